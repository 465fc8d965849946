"""``IStrategy``: what a user strategy implements, and how the bot runs it."""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from candlecast.domain.enums import CandleType
from candlecast.domain.timeframes import timeframe_to_seconds
from candlecast.exceptions import StrategyError
from candlecast.strategy import informative_decorator as inf
from candlecast.strategy.locks import PairLocking
from candlecast.strategy.parameters import (
    BaseParameter,
    apply_file_settings,
    apply_parameters,
    read_parameter_file,
)

if TYPE_CHECKING:
    from datetime import datetime

    from candlecast.data.dataprovider import DataProvider
    from candlecast.persistence.trade import Trade

logger = logging.getLogger(__name__)

REQUIRED_SIGNALS = ("enter_long", "exit_long")
# freqtrade's interface-version-2 methods, used when the current one is not overridden
LEGACY_METHODS = {
    "populate_entry_trend": "populate_buy_trend",
    "populate_exit_trend": "populate_sell_trend",
}
_LEGACY_COLUMNS = {
    "populate_entry_trend": {"buy": "enter_long", "buy_tag": "enter_tag"},
    "populate_exit_trend": {"sell": "exit_long", "exit_tag": "exit_tag"},
}


class StrategyRunError(StrategyError):
    """A ``populate_*`` step failed: ``fold_key`` is the same for the same fault on any pair."""

    def __init__(self, message: str, pair: str, fold_key: str) -> None:
        super().__init__(message)
        self.pair = pair
        self.fold_key = fold_key


class IStrategy(PairLocking, ABC):
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
        # as freqtrade: parameter file beside the strategy file, then buy_params/... dicts
        source = getattr(type(self), "__file__", "")
        file_params = read_parameter_file(source, type(self).__name__) if source else {}
        apply_file_settings(self, file_params)
        apply_parameters(self, file_params)
        self._informative = inf.collect(type(self))
        for data, _ in self._informative:
            self._check_informative(data)

    def _check_informative(self, data: inf.InformativeData) -> None:
        if timeframe_to_seconds(data.timeframe) < timeframe_to_seconds(self.timeframe):
            raise StrategyError(
                f"@informative({data.timeframe!r}) is faster than the strategy timeframe "
                f"{self.timeframe}: informative timeframes must be equal or slower"
            )
        if CandleType.from_string(data.candle_type or None) != CandleType.SPOT:
            raise StrategyError(
                f"@informative candle_type {data.candle_type!r}: candlecast trades spot only"
            )

    # --- what users implement -------------------------------------------------------
    @abstractmethod
    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Add indicator columns to ``dataframe`` and return it."""

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Set ``enter_long`` to 1 on candles where a trade should open (required; freqtrade's
        older ``populate_buy_trend`` setting ``buy`` is used when only it is defined)."""
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """Set ``exit_long`` to 1 on candles where a trade should close (default: never)."""
        return dataframe

    def informative_pairs(self) -> list[tuple[str, str]]:
        """Extra ``(pair, timeframe)`` candles the strategy wants downloaded."""
        return []

    def gather_informative_pairs(self, whitelist: list[str]) -> list[tuple[str, str]]:
        """Every ``(pair, timeframe)`` besides the whitelist's own candles the strategy reads:
        ``informative_pairs()`` plus the ``@informative`` methods' pairs.

        Raises:
            StrategyError: an entry is not a ``(pair, timeframe[, candle_type])`` tuple, or
                asks for a candle type other than spot.
        """
        wanted: list[tuple[str, str]] = []
        for entry in self.informative_pairs() or []:
            if not isinstance(entry, tuple | list) or len(entry) not in (2, 3):
                raise StrategyError(
                    f"informative_pairs() returned {entry!r}: expected (pair, timeframe) "
                    "or (pair, timeframe, candle_type)"
                )
            if len(entry) == 3 and CandleType.from_string(entry[2] or None) != CandleType.SPOT:
                raise StrategyError(
                    f"informative_pairs() asks for {entry!r}: candlecast trades spot only"
                )
            wanted.append((str(entry[0]), str(entry[1])))
        stake = str(self.config.get("stake_currency", ""))
        for data, _ in self._informative:
            if data.asset and not any(
                k in data.asset for k in ("{base}", "{BASE}", "{quote}", "{QUOTE}")
            ):
                wanted.append((inf.format_pair_name(data.asset, stake), data.timeframe))
            else:
                wanted += [
                    (inf.informative_asset(data, stake, p), data.timeframe) for p in whitelist
                ]
        return list(dict.fromkeys(wanted))

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

    def check_entry_timeout(
        self, pair: str, trade: Trade, order: Any, current_time: datetime, **kwargs: Any
    ) -> bool:
        """Asked each poll about an entry order still open within ``unfilledtimeout``:
        True cancels it now."""
        return False

    def check_exit_timeout(
        self, pair: str, trade: Trade, order: Any, current_time: datetime, **kwargs: Any
    ) -> bool:
        """As ``check_entry_timeout``, for an exit order."""
        return False

    def adjust_entry_price(
        self,
        trade: Trade,
        order: Any,
        pair: str,
        current_time: datetime,
        proposed_rate: float,
        current_order_rate: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float | None:
        """Asked, once a candle closed after an open entry order was placed, for its price:
        ``current_order_rate`` keeps it, another price replaces it, None cancels it."""
        return current_order_rate

    def adjust_exit_price(
        self,
        trade: Trade,
        order: Any,
        pair: str,
        current_time: datetime,
        proposed_rate: float,
        current_order_rate: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float | None:
        """As ``adjust_entry_price``, for an open exit order."""
        return current_order_rate

    def adjust_order_price(
        self,
        trade: Trade,
        order: Any,
        pair: str,
        current_time: datetime,
        proposed_rate: float,
        current_order_rate: float,
        entry_tag: str | None,
        side: str,
        is_entry: bool,
        **kwargs: Any,
    ) -> float | None:
        """Both at once (freqtrade's newer form): by default asks ``adjust_entry_price`` or
        ``adjust_exit_price``."""
        ask = self.adjust_entry_price if is_entry else self.adjust_exit_price
        return ask(
            trade=trade,
            order=order,
            pair=pair,
            current_time=current_time,
            proposed_rate=proposed_rate,
            current_order_rate=current_order_rate,
            entry_tag=entry_tag,
            side=side,
            **kwargs,
        )

    def order_filled(
        self, pair: str, trade: Trade, order: Any, current_time: datetime, **kwargs: Any
    ) -> None:
        """Called once an order is final with a fill: entries, exits, added entries and
        stop orders on the exchange."""
        return None

    # --- what the bot calls ---------------------------------------------------------
    def analyze(self, dataframe: pd.DataFrame, pair: str) -> pd.DataFrame:
        """Run the ``@informative`` methods and the three ``populate_*`` steps on a copy.

        Raises:
            StrategyRunError: the strategy raised (the message names the strategy file and
                line) or returned something other than a DataFrame of the same length.
        """
        metadata = {"pair": pair, "timeframe": self.timeframe}
        frame = dataframe.copy()
        stake = str(self.config.get("stake_currency", ""))
        steps: list[tuple[str, Any]] = [
            (
                f"@informative {getattr(method, '__name__', '?')}",
                lambda f, m, d=data, fn=method: inf.merge_informative(self, f, m, d, fn, stake),
            )
            for data, method in self._informative
        ]
        steps += [
            (step, self._step(step))
            for step in ("populate_indicators", "populate_entry_trend", "populate_exit_trend")
        ]
        for step, call in steps:
            try:
                result = call(frame, metadata)
            except Exception as exc:
                where = failing_line(exc, self.source_file())
                raise StrategyRunError(
                    f"{type(self).__name__}.{step} failed for {pair} ({where}): "
                    f"{type(exc).__name__}: {exc}",
                    pair,
                    f"{step}|{where}|{type(exc).__name__}: {exc}",
                ) from exc
            if not isinstance(result, pd.DataFrame):
                raise StrategyRunError(
                    f"{type(self).__name__}.{step} returned {type(result).__name__} for {pair}, "
                    "expected a DataFrame",
                    pair,
                    f"{step}|type {type(result).__name__}",
                )
            if len(result) != len(dataframe):
                raise StrategyRunError(
                    f"{type(self).__name__}.{step} changed the number of candles for {pair} "
                    f"({len(dataframe)} -> {len(result)})",
                    pair,
                    f"{step}|length",
                )
            frame = result
        return normalize_signals(frame)

    def _step(self, step: str) -> Any:
        legacy = LEGACY_METHODS.get(step)
        klass = type(self)
        if (
            legacy
            and getattr(klass, step) is getattr(IStrategy, step)
            and getattr(klass, legacy, None) is not None
        ):
            method = getattr(self, legacy)
            renames = _LEGACY_COLUMNS[step]

            def run_legacy(frame: pd.DataFrame, metadata: dict) -> pd.DataFrame:
                result = method(frame, metadata)
                if isinstance(result, pd.DataFrame):
                    present = {
                        k: v
                        for k, v in renames.items()
                        if k in result.columns and v not in result.columns
                    }
                    result = result.rename(columns=present)
                return result

            return run_legacy
        return getattr(self, step)

    def source_file(self) -> str:
        """The file the strategy class was loaded from ("?" when unknown)."""
        source = getattr(type(self), "__file__", None)
        if source:
            return str(source)
        try:
            return inspect.getsourcefile(type(self)) or "?"
        except TypeError:
            return "?"


def failing_line(exc: BaseException, path: str | Path) -> str:
    """``"file.py:LINE"``: the deepest frame of ``exc``'s traceback in the file ``path``."""
    target = str(Path(path).resolve())
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if str(Path(tb.tb_frame.f_code.co_filename).resolve()) == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(exc, SyntaxError) and exc.filename:
        line = exc.lineno
    return f"{path}:{line}" if line is not None else str(path)


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
