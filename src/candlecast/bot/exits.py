"""Which exits apply to an open trade now: freqtrade's rules, in freqtrade's order.

No I/O and no clock: the caller passes the rate, the time and the last candle's
signals. Checking moves the trade's stop (trailing, custom stoploss) and its price
extremes, as freqtrade does; the caller stores them.

Order of the returned exits (the first one the strategy confirms is executed):
exit signal or custom exit, stoploss, ROI, trailing stoploss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from candlecast.bot import callbacks
from candlecast.domain.timeframes import timeframe_to_seconds
from candlecast.persistence.trade import Trade
from candlecast.strategy.interface import IStrategy

CUSTOM_TAG_MAX_LENGTH = 255

EXIT_SIGNAL = "exit_signal"
CUSTOM_EXIT = "custom_exit"
STOP_LOSS = "stop_loss"
TRAILING_STOP_LOSS = "trailing_stop_loss"
ROI = "roi"
PARTIAL_EXIT = "partial_exit"
EMERGENCY_EXIT = "emergency_exit"


@dataclass(frozen=True)
class ExitCheck:
    """One exit that applies: its type and the reason stored on the trade."""

    exit_type: str
    reason: str

    @property
    def is_stoploss(self) -> bool:
        return self.exit_type in (STOP_LOSS, TRAILING_STOP_LOSS)


@dataclass(frozen=True)
class Signals:
    """The last candle's signals for an open trade (all False when it is missing or old)."""

    enter: bool = False
    exit: bool = False
    exit_tag: str | None = None


def latest_signals(frame: pd.DataFrame, now: datetime, timeframe: str) -> Signals:
    """The signals of the last candle, if it is recent (closed within two timeframes)."""
    if frame.empty:
        return Signals()
    last = frame.iloc[-1]
    age = (pd.Timestamp(now) - last["date"]).total_seconds()
    if age > 3 * timeframe_to_seconds(timeframe):
        return Signals()
    tag = last.get("exit_tag")
    return Signals(
        enter=_is_one(last.get("enter_long")),
        exit=_is_one(last.get("exit_long")),
        exit_tag=tag if isinstance(tag, str) and tag != "nan" else None,
    )


def _is_one(value: object) -> bool:
    return value is not None and not pd.isna(value) and value == 1


def roi_entry(minimal_roi: dict[int, float], trade_minutes: int) -> float | None:
    """The ROI of the highest key not above ``trade_minutes`` (None: no entry applies)."""
    keys = [k for k in minimal_roi if k <= trade_minutes]
    return minimal_roi[max(keys)] if keys else None


def roi_table(minimal_roi: dict[str, float] | dict[int, float]) -> dict[int, float]:
    """``minimal_roi`` with integer minutes as keys, as freqtrade reads it."""
    return {int(float(k)): float(v) for k, v in minimal_roi.items()}


def roi_reached(trade: Trade, profit: float, now: datetime, minimal_roi: dict[int, float]) -> bool:
    """ROI is reached when the profit is strictly above the ROI of the trade's age in
    whole minutes."""
    minutes = int((now.timestamp() - trade.open_date_utc.timestamp()) // 60)
    roi = roi_entry(minimal_roi, minutes)
    return roi is not None and profit > roi


def adjust_stoploss(
    strategy: IStrategy,
    trade: Trade,
    rate: float,
    now: datetime,
    profit: float,
    after_fill: bool = False,
) -> None:
    """Initialise the stop from the open rate, then move it with the custom stoploss
    and the trailing stop (it only moves up, except right after a fill)."""
    if after_fill and not callbacks.stop_uses_after_fill(strategy):
        return
    stoploss = float(strategy.stoploss or -1.0)
    trade.adjust_stop_loss(trade.open_rate, stoploss, initial=True)
    below_rate = (trade.stop_loss or 0.0) < rate
    if strategy.use_custom_stoploss and below_rate:
        custom = callbacks.call(
            strategy,
            "custom_stoploss",
            None,
            pair=trade.pair,
            trade=trade,
            current_time=now,
            current_rate=rate,
            current_profit=profit,
            after_fill=after_fill,
        )
        if isinstance(custom, int | float) and custom and math.isfinite(custom):
            stoploss = float(custom)
            trade.adjust_stop_loss(rate, stoploss, allow_refresh=after_fill)
    if strategy.trailing_stop and below_rate:
        offset = strategy.trailing_stop_positive_offset
        if not (strategy.trailing_only_offset_is_reached and profit < offset):
            if strategy.trailing_stop_positive is not None and profit > offset:
                stoploss = strategy.trailing_stop_positive
            trade.adjust_stop_loss(rate, stoploss)


def stoploss_reached(
    strategy: IStrategy, trade: Trade, rate: float, now: datetime, profit: float
) -> ExitCheck | None:
    """Move the stop, then: is the rate at or below it?"""
    adjust_stoploss(strategy, trade, rate, now, profit)
    if trade.stop_loss is not None and trade.stop_loss >= rate:
        kind = TRAILING_STOP_LOSS if trade.is_stop_loss_trailing else STOP_LOSS
        return ExitCheck(kind, kind)
    return None


def should_exit(
    strategy: IStrategy,
    trade: Trade,
    rate: float,
    now: datetime,
    signals: Signals,
    local_stop: bool = True,
) -> list[ExitCheck]:
    """Every exit that applies to ``trade`` at ``rate`` now, in the order they are tried.

    ``rate`` is the current exit rate (the ticker's bid), used by every rule.
    ``local_stop`` False: the stop still moves, but a stop order on the exchange is what
    exits at it (``stoploss_on_exchange``), so no stop exit is returned.
    """
    profit = trade.calc_profit_ratio(rate)
    trade.adjust_min_max_rates(rate, rate)
    stop = stoploss_reached(strategy, trade, rate, now, profit)
    if not local_stop:
        stop = None
    roi = not (signals.enter and strategy.ignore_roi_if_entry_signal) and roi_reached(
        trade, profit, now, roi_table(strategy.minimal_roi)
    )
    exits: list[ExitCheck] = []
    if strategy.use_exit_signal:
        if signals.exit and not signals.enter:
            if not strategy.exit_profit_only or profit > strategy.exit_profit_offset:
                exits.append(ExitCheck(EXIT_SIGNAL, signals.exit_tag or EXIT_SIGNAL))
        else:
            custom = callbacks.call(
                strategy,
                "custom_exit",
                False,
                pair=trade.pair,
                trade=trade,
                current_time=now,
                current_rate=rate,
                current_profit=profit,
            )
            if custom:
                reason = custom[:CUSTOM_TAG_MAX_LENGTH] if isinstance(custom, str) else ""
                exits.append(ExitCheck(CUSTOM_EXIT, reason or CUSTOM_EXIT))
    if stop is not None and stop.exit_type == STOP_LOSS:
        exits.append(stop)
    if roi:
        exits.append(ExitCheck(ROI, ROI))
    if stop is not None and stop.exit_type == TRAILING_STOP_LOSS:
        exits.append(stop)
    return exits
