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
    from candlecast.data.dataprovider import DataProvider

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

    def bot_loop_start(self, **kwargs: Any) -> None:
        """Called at the start of every cycle."""

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
