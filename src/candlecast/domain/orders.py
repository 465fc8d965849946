"""Orders as an exchange reports them."""

from __future__ import annotations

from dataclasses import dataclass

from candlecast.domain.trades import exact_difference


@dataclass(frozen=True)
class OrderState:
    """An exchange order as last seen: ``status`` is "open", "closed" or "canceled"."""

    id: str
    pair: str
    side: str  # "buy" or "sell"
    status: str
    amount: float
    filled: float
    price: float
    average: float | None = None

    @property
    def remaining(self) -> float:
        return max(exact_difference(self.amount, [self.filled]), 0.0)

    @property
    def fill_price(self) -> float:
        """The average fill price, or the limit price when the exchange gave none."""
        return self.average or self.price
