"""``IStrategy``: what a user strategy implements, and how the bot runs it."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from candlecast.exceptions import StrategyError
from candlecast.strategy.parameters import BaseParameter

if TYPE_CHECKING:
    from datetime import datetime

    from candlecast.data.dataprovider import DataProvider
    from candlecast.persistence.trade import Trade

logger = logging.getLogger(__name__)

REQUIRED_SIGNALS = ("enter_long", "exit_long")


class IStrategy(ABC):
    """Base class of every strategy.

    Subclasses implement ``populate_indicators`` and ``populate_entry_trend`` (and
    usually ``populate_exit_trend``). ``self.dp`` gives market and producer data,
    ``self.config`` the bot's configuration as a dict.
    """

    INTERFACE_VERSION: ClassVar[int] = 3

    timeframe: str = "5m"
    minimal_roi: dict[str, float] = {}
    stoploss: float | None = None
    startup_candle_count: int = 0
    process_only_new_candles: bool = True
    can_short: bool = False
    use_exit_signal: bool = True
    exit_profit_only: bool = False
    exit_profit_offset: float = 0.0
    ignore_roi_if_entry_signal: bool = False
    # seconds after its candle closed that an entry signal is still acted on (0: always)
    ignore_buying_expired_candle_after: int = 0
    trailing_stop: bool = False
    trailing_stop_positive: float | None = None
    trailing_stop_positive_offset: float = 0.0
    trailing_only_offset_is_reached: bool = False
    use_custom_stoploss: bool = False
    position_adjustment_enable: bool = False
    max_entry_position_adjustment: int = -1

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.dp: DataProvider | None = None  # set by the bot before the first cycle
        self.parameters: dict[str, BaseParameter] = {}
        for klass in reversed(type(self).__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, BaseParameter):
                    # a per-instance copy, so two strategy instances never share state
                    param = _copy_param(value, name)
                    setattr(self, name, param)
                    self.parameters[name] = param

    # --- what users implement -------------------------------------------------------
    @abstractmethod
    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Add indicator columns to ``dataframe`` and return it."""

    @abstractmethod
    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Set ``enter_long`` to 1 on candles where a trade should open."""

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Set ``exit_long`` to 1 on candles where a trade should close (default: never)."""
        return dataframe

    def informative_pairs(self) -> list[tuple[str, str]]:
        """Extra ``(pair, timeframe)`` candles the strategy wants downloaded."""
        return []

    def bot_start(self, **kwargs: Any) -> None:
        """Called once before the first cycle."""

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        """Called at the start of every full cycle, before analysis."""

    # --- trade callbacks (freqtrade's signatures; see docs/strategy-api.md) ------------
    def custom_stoploss(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs: Any,
    ) -> float | None:
        """With ``use_custom_stoploss``: the stop as a ratio below ``current_rate``
        (-0.05: 5 % below); None keeps the current stop. The stop only moves up."""
        return self.stoploss

    def custom_exit(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        **kwargs: Any,
    ) -> str | bool | None:
        """A string (the exit reason) or True exits the trade now."""
        return None

    def custom_entry_price(
        self,
        pair: str,
        trade: Trade | None,
        current_time: datetime,
        proposed_rate: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """The entry price (kept within ``custom_price_max_distance_ratio`` of the proposal)."""
        return proposed_rate

    def custom_exit_price(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        proposed_rate: float,
        current_profit: float,
        exit_tag: str | None,
        **kwargs: Any,
    ) -> float:
        """The exit price (kept within ``custom_price_max_distance_ratio`` of the proposal)."""
        return proposed_rate

    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """The stake of a new trade (0 or less: no trade)."""
        return proposed_stake

    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        """False cancels the entry about to be placed."""
        return True

    def confirm_trade_exit(
        self,
        pair: str,
        trade: Trade,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        exit_reason: str,
        current_time: datetime,
        **kwargs: Any,
    ) -> bool:
        """False cancels the exit about to be placed (partial exits are not asked)."""
        return True

    def adjust_trade_position(
        self,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        min_stake: float | None,
        max_stake: float,
        current_entry_rate: float,
        current_exit_rate: float,
        current_entry_profit: float,
        current_exit_profit: float,
        **kwargs: Any,
    ) -> float | tuple[float | None, str | None] | None:
        """With ``position_adjustment_enable``: a stake to add (> 0) or take out (< 0),
        optionally with an order tag as ``(stake, tag)``; None does nothing."""
        return None

    # --- what the bot calls ---------------------------------------------------------
    def analyze(self, dataframe: pd.DataFrame, pair: str) -> pd.DataFrame:
        """Run the three ``populate_*`` steps on a copy of ``dataframe``.

        Raises:
            StrategyError: the strategy raised or returned something other than a
                DataFrame of the same length.
        """
        metadata = {"pair": pair, "timeframe": self.timeframe}
        frame = dataframe.copy()
        for step in ("populate_indicators", "populate_entry_trend", "populate_exit_trend"):
            try:
                result = getattr(self, step)(frame, metadata)
            except Exception as exc:
                raise StrategyError(
                    f"{type(self).__name__}.{step} failed for {pair}: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(result, pd.DataFrame):
                raise StrategyError(
                    f"{type(self).__name__}.{step} returned {type(result).__name__} for {pair}, expected a DataFrame"
                )
            if len(result) != len(dataframe):
                raise StrategyError(
                    f"{type(self).__name__}.{step} changed the number of candles for {pair} "
                    f"({len(dataframe)} -> {len(result)})"
                )
            frame = result
        return normalize_signals(frame)


def normalize_signals(frame: pd.DataFrame) -> pd.DataFrame:
    """Ensure ``enter_long``/``exit_long`` exist as 0/1 integers (NaN becomes 0)."""
    for column in REQUIRED_SIGNALS:
        if column not in frame.columns:
            frame[column] = np.zeros(len(frame), dtype=np.int64)
        else:
            values = frame[column]
            if values.dtype.kind in "fb" or values.dtype == object:
                numeric = pd.to_numeric(values, errors="coerce").fillna(0)
                frame[column] = numeric.astype(np.int64)
    return frame


def _copy_param(param: BaseParameter, name: str) -> BaseParameter:
    clone = object.__new__(type(param))
    clone.__dict__.update(param.__dict__)
    clone.name = name
    return clone
