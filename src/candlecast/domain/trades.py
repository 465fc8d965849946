"""Trades as plain values (the repository maps them to and from rows)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal


def exact_sum(amounts: Iterable[float]) -> float:
    """Sum order amounts on the decimal values they print as (``0.00064 + 0.00065`` is
    ``0.00129``): amounts come from exchanges as decimal strings in lot steps, and a
    float sum or difference can land one ulp below a step, which truncating to the
    step then turns into a whole step less."""
    return float(sum((Decimal(repr(float(a))) for a in amounts), Decimal(0)))


def exact_difference(total: float, parts: Iterable[float]) -> float:
    """``total`` minus ``parts``, computed like :func:`exact_sum` (what is still held)."""
    rest = Decimal(repr(float(total))) - Decimal(repr(exact_sum(parts)))
    return float(rest)


@dataclass(frozen=True)
class Trade:
    """One long spot position, open or closed."""

    id: int | None
    pair: str
    is_open: bool
    open_date: datetime
    open_rate: float
    amount: float
    stake_amount: float
    fee_open: float
    fee_close: float
    strategy: str
    timeframe: str
    enter_tag: str | None = None
    close_date: datetime | None = None
    close_rate: float | None = None
    exit_reason: str | None = None
    close_profit: float | None = None
    close_profit_abs: float | None = None
    # Risk state a restart must find as it was (freqtrade's names and meanings).
    max_rate: float | None = None
    min_rate: float | None = None
    stop_loss: float | None = None
    stop_loss_pct: float | None = None
    initial_stop_loss: float | None = None
    initial_stop_loss_pct: float | None = None
    is_stop_loss_trailing: bool = False

    def profit_ratio(self, rate: float) -> float:
        """Profit of closing at ``rate`` after both fees, relative to the stake spent."""
        spent = self.amount * self.open_rate * (1 + self.fee_open)
        received = self.amount * rate * (1 - self.fee_close)
        return (received - spent) / spent

    def profit_abs(self, rate: float) -> float:
        spent = self.amount * self.open_rate * (1 + self.fee_open)
        return self.amount * rate * (1 - self.fee_close) - spent

    def closed(self, rate: float, when: datetime, reason: str) -> Trade:
        return replace(
            self,
            is_open=False,
            close_rate=rate,
            close_date=when,
            exit_reason=reason,
            close_profit=self.profit_ratio(rate),
            close_profit_abs=self.profit_abs(rate),
        )

    def to_dict(self) -> dict:
        return {
            "trade_id": self.id,
            "pair": self.pair,
            "is_open": self.is_open,
            "open_date": self.open_date.isoformat(),
            "open_rate": self.open_rate,
            "amount": self.amount,
            "stake_amount": self.stake_amount,
            "enter_tag": self.enter_tag,
            "close_date": self.close_date.isoformat() if self.close_date else None,
            "close_rate": self.close_rate,
            "exit_reason": self.exit_reason,
            "profit_ratio": self.close_profit,
            "profit_abs": self.close_profit_abs,
            "strategy": self.strategy,
            "timeframe": self.timeframe,
            "stop_loss_abs": self.stop_loss,
            "stop_loss_ratio": self.stop_loss_pct,
            "initial_stop_loss_abs": self.initial_stop_loss,
            "max_rate": self.max_rate,
            "min_rate": self.min_rate,
        }


@dataclass(frozen=True)
class OrderRecord:
    """A stored order that is still open on the exchange (live trading)."""

    id: int
    trade_id: int
    pair: str
    side: str  # "buy" or "sell"
    order_id: str
    amount: float
    created_at: datetime
    reason: str | None = None
    stop_price: float | None = None  # set for a stop order (``stoploss_on_exchange``)


#: The trade fields that change while a trade is open without an order (stop, extremes).
RISK_FIELDS = (
    "max_rate",
    "min_rate",
    "stop_loss",
    "stop_loss_pct",
    "initial_stop_loss",
    "initial_stop_loss_pct",
    "is_stop_loss_trailing",
)
