"""freqtrade's four protections as pure rules over closed trades.

Each rule looks at trades closed within its lookback window and says whether to lock
one pair (``stop_per_pair``) or every pair (``global_stop``) and until when. Closed
trades come from a ``TradeSource``: ``source(since, pair)`` returns the closed trades of
``pair`` (None: every pair) whose close date is later than ``since`` (None: all).

Windows and durations are minutes, or candles of the bot's timeframe when given as
``*_candles``. A lock ends ``stop_duration`` after the close of the latest trade that
triggered it (``unlock_at``: at that time of day, the next such time after the close).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from candlecast.domain.locks import BOTH_SIDES
from candlecast.domain.timeframes import timeframe_to_seconds
from candlecast.domain.trades import Trade

TradeSource = Callable[[datetime | None, str | None], Sequence[Trade]]

#: Exit reasons StoplossGuard counts (freqtrade's stop-loss exit types).
STOPLOSS_REASONS = frozenset(
    {"stop_loss", "trailing_stop_loss", "stoploss_on_exchange", "liquidation"}
)


@dataclass(frozen=True)
class ProtectionReturn:
    """A rule's verdict: lock until ``until`` (rounded up to a candle when stored)."""

    until: datetime
    reason: str
    lock_side: str = BOTH_SIDES


def plural(count: float, singular: str, many: str) -> str:
    return singular if count in (1, -1) else many


def _close_date(trade: Trade) -> datetime:
    assert trade.close_date is not None
    return trade.close_date


class Protection(ABC):
    """Common settings: ``stop_duration``/``stop_duration_candles``/``unlock_at`` and
    ``lookback_period``/``lookback_period_candles`` (defaults 60 minutes each)."""

    has_global_stop = False
    has_local_stop = False

    def __init__(self, settings: Mapping[str, Any], timeframe: str) -> None:
        self.settings = dict(settings)
        tf_seconds = timeframe_to_seconds(timeframe)
        self.stop_duration_candles: int | None = None
        self.lookback_period_candles: int | None = None
        self.unlock_at: str | None = None
        # durations in seconds (freqtrade counts whole minutes, which makes candles of
        # a sub-minute timeframe last 0); the minutes are kept for the messages
        self.stop_seconds = 0
        if "stop_duration_candles" in settings:
            self.stop_duration_candles = int(settings["stop_duration_candles"])
            self.stop_seconds = tf_seconds * self.stop_duration_candles
        elif "unlock_at" in settings:
            self.unlock_at = str(settings["unlock_at"])
        else:
            self.stop_seconds = int(settings.get("stop_duration", 60)) * 60
        if "lookback_period_candles" in settings:
            self.lookback_period_candles = int(settings["lookback_period_candles"])
            self.lookback_seconds = tf_seconds * self.lookback_period_candles
        else:
            self.lookback_seconds = int(settings.get("lookback_period", 60)) * 60
        self.stop_duration = self.stop_seconds // 60
        self.lookback_period = self.lookback_seconds // 60

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def stop_duration_str(self) -> str:
        if self.stop_duration_candles:
            n = self.stop_duration_candles
            return f"{n} {plural(n, 'candle', 'candles')}"
        return f"{self.stop_duration} {plural(self.stop_duration, 'minute', 'minutes')}"

    @property
    def lookback_period_str(self) -> str:
        if self.lookback_period_candles:
            n = self.lookback_period_candles
            return f"{n} {plural(n, 'candle', 'candles')}"
        return f"{self.lookback_period} {plural(self.lookback_period, 'minute', 'minutes')}"

    @property
    def unlock_reason_time_element(self) -> str:
        if self.unlock_at is not None:
            return f"until {self.unlock_at}"
        return f"for {self.stop_duration_str}"

    def lock_end(self, trades: Sequence[Trade]) -> datetime:
        """``stop_duration`` after the latest close (or the next ``unlock_at`` after it)."""
        latest = max(_close_date(t) for t in trades)
        if self.unlock_at is not None:
            hour, minute = self.unlock_at.split(":")
            end = latest.replace(hour=int(hour), minute=int(minute))
            return end + timedelta(days=1) if end < latest else end
        return latest + timedelta(seconds=self.stop_seconds)

    @abstractmethod
    def short_desc(self) -> str:
        """One line for the start-up log."""

    def global_stop(
        self, source: TradeSource, now: datetime, side: str, starting_balance: float
    ) -> ProtectionReturn | None:
        return None

    def stop_per_pair(
        self, source: TradeSource, pair: str, now: datetime, side: str, starting_balance: float
    ) -> ProtectionReturn | None:
        return None


class CooldownPeriod(Protection):
    """Lock a pair for ``stop_duration`` after each of its trades closes."""

    has_local_stop = True

    def short_desc(self) -> str:
        return f"{self.name} - Cooldown period {self.unlock_reason_time_element}."

    def stop_per_pair(
        self, source: TradeSource, pair: str, now: datetime, side: str, starting_balance: float
    ) -> ProtectionReturn | None:
        trades = source(now - timedelta(seconds=self.stop_seconds), pair)
        if not trades:
            return None
        latest = max(trades, key=_close_date)
        return ProtectionReturn(
            self.lock_end([latest]), f"Cooldown period {self.unlock_reason_time_element}."
        )


class StoplossGuard(Protection):
    """Lock after ``trade_limit`` stop-loss exits with a profit below ``required_profit``
    within the lookback: every pair, or only the pair (``only_per_pair``)."""

    has_global_stop = True
    has_local_stop = True

    def __init__(self, settings: Mapping[str, Any], timeframe: str) -> None:
        super().__init__(settings, timeframe)
        self.trade_limit = int(settings.get("trade_limit", 10))
        self.only_per_pair = bool(settings.get("only_per_pair", False))
        self.only_per_side = bool(settings.get("only_per_side", False))
        self.required_profit = float(settings.get("required_profit", 0.0))

    def short_desc(self) -> str:
        return (
            f"{self.name} - Frequent Stoploss Guard, {self.trade_limit} stoplosses "
            f"with profit < {self.required_profit:.2%} within {self.lookback_period_str}."
        )

    def _guard(
        self, source: TradeSource, pair: str | None, now: datetime, side: str
    ) -> ProtectionReturn | None:
        trades = [
            t
            for t in source(now - timedelta(seconds=self.lookback_seconds), pair)
            if str(t.exit_reason) in STOPLOSS_REASONS
            and t.close_profit
            and t.close_profit < self.required_profit
            and (not self.only_per_side or side == "long")
        ]
        if len(trades) < self.trade_limit:
            return None
        return ProtectionReturn(
            self.lock_end(trades),
            f"{self.trade_limit} stoplosses in {self.lookback_period} min, "
            f"locking {self.unlock_reason_time_element}.",
            side if self.only_per_side else BOTH_SIDES,
        )

    def global_stop(
        self, source: TradeSource, now: datetime, side: str, starting_balance: float
    ) -> ProtectionReturn | None:
        return None if self.only_per_pair else self._guard(source, None, now, side)

    def stop_per_pair(
        self, source: TradeSource, pair: str, now: datetime, side: str, starting_balance: float
    ) -> ProtectionReturn | None:
        return self._guard(source, pair, now, side)


class LowProfitPairs(Protection):
    """Lock a pair whose trades in the lookback (at least ``trade_limit``) sum to a
    profit ratio below ``required_profit``."""

    has_local_stop = True

    def __init__(self, settings: Mapping[str, Any], timeframe: str) -> None:
        super().__init__(settings, timeframe)
        self.trade_limit = int(settings.get("trade_limit", 1))
        self.required_profit = float(settings.get("required_profit", 0.0))
        self.only_per_side = bool(settings.get("only_per_side", False))

    def short_desc(self) -> str:
        return (
            f"{self.name} - Low Profit Protection, locks pairs with "
            f"profit < {self.required_profit} within {self.lookback_period_str}."
        )

    def stop_per_pair(
        self, source: TradeSource, pair: str, now: datetime, side: str, starting_balance: float
    ) -> ProtectionReturn | None:
        trades = source(now - timedelta(seconds=self.lookback_seconds), pair)
        if len(trades) < self.trade_limit:
            return None
        profit = sum(
            t.close_profit
            for t in trades
            if t.close_profit and (not self.only_per_side or side == "long")
        )
        if profit >= self.required_profit:
            return None
        return ProtectionReturn(
            self.lock_end(trades),
            f"{profit} < {self.required_profit} in {self.lookback_period_str}, "
            f"locking {self.unlock_reason_time_element}.",
            side if self.only_per_side else BOTH_SIDES,
        )


class MaxDrawdown(Protection):
    """Lock every pair when the drawdown of the trades in the lookback (at least
    ``trade_limit``) exceeds ``max_allowed_drawdown``.

    ``calculation_mode`` "ratios" (default): the largest fall of the running sum of the
    trades' profit ratios below its running high (never below 0). "equity": the largest
    relative fall of the account equity (the balance at the window start, i.e. the
    starting balance plus the profit of the trades closed before it, plus the absolute
    profits in the window) below its running high.
    """

    has_global_stop = True

    def __init__(self, settings: Mapping[str, Any], timeframe: str) -> None:
        super().__init__(settings, timeframe)
        self.trade_limit = int(settings.get("trade_limit", 1))
        self.max_allowed_drawdown = float(settings.get("max_allowed_drawdown", 0.0))
        self.calculation_mode = str(settings.get("calculation_mode", "ratios"))

    def short_desc(self) -> str:
        return (
            f"{self.name} - Max drawdown protection, stop trading if drawdown is > "
            f"{self.max_allowed_drawdown} within {self.lookback_period_str}."
        )

    def global_stop(
        self, source: TradeSource, now: datetime, side: str, starting_balance: float
    ) -> ProtectionReturn | None:
        since = now - timedelta(seconds=self.lookback_seconds)
        trades = sorted(source(since, None), key=_close_date)
        if not trades or len(trades) < self.trade_limit:
            return None
        if self.calculation_mode == "equity":
            prior = sum(
                t.close_profit_abs or 0.0 for t in source(None, None) if _close_date(t) <= since
            )
            drawdown = equity_drawdown(
                [t.close_profit_abs or 0.0 for t in trades], starting_balance + prior
            )
        else:
            drawdown = ratio_drawdown([t.close_profit or 0.0 for t in trades])
        if drawdown <= self.max_allowed_drawdown:
            return None
        return ProtectionReturn(
            self.lock_end(trades),
            f"{drawdown} passed {self.max_allowed_drawdown} in {self.lookback_period_str}, "
            f"locking {self.unlock_reason_time_element}.",
        )


def ratio_drawdown(profits: Sequence[float]) -> float:
    """Largest fall of the running sum below its running high (the high starts at 0)."""
    total = high = worst = 0.0
    for profit in profits:
        total += profit
        high = max(high, total)
        worst = max(worst, high - total)
    return worst


def equity_drawdown(profits: Sequence[float], balance: float) -> float:
    """Largest relative fall of ``balance`` plus the running profit below its high."""
    equity = peak = balance
    worst = 0.0
    for profit in profits:
        equity += profit
        peak = max(peak, equity)
        if peak > 0:
            worst = max(worst, (peak - equity) / peak)
    return worst


PROTECTIONS: dict[str, type[Protection]] = {
    cls.__name__: cls for cls in (CooldownPeriod, StoplossGuard, LowProfitPairs, MaxDrawdown)
}
