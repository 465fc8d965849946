"""``Trade`` and ``Order`` as strategy callbacks see them (freqtrade's names and meanings).

A ``Trade`` here is a mutable view of one stored trade: its values, its orders and
its custom data, read from the repository. The bot changes its stop-loss state and
price extremes while checking exits and stores them back; ``set_custom_data``
writes through at once. ``Trade.get_trades_proxy`` queries the repository the
running bot bound with ``Trade.bind``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from candlecast.domain.trades import RISK_FIELDS, exact_difference
from candlecast.domain.trades import Trade as TradeValue
from candlecast.persistence.repository import TradeRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Order:
    """One order of a trade (freqtrade's ``Order`` attributes)."""

    ft_order_side: str  # "buy", "sell" or "stoploss" (a stop order on the exchange)
    status: str
    price: float
    amount: float
    filled: float
    average: float | None
    cost: float
    order_id: str | None
    order_date: datetime
    order_filled_date: datetime | None
    ft_order_tag: str | None
    order_type: str = "limit"

    @property
    def side(self) -> str:
        return self.ft_order_side

    @property
    def order_date_utc(self) -> datetime:
        return self.order_date

    @property
    def ft_is_open(self) -> bool:
        return self.status == "open"

    @property
    def remaining(self) -> float:
        return exact_difference(self.amount, [self.filled])

    @property
    def safe_price(self) -> float:
        return self.average or self.price

    @property
    def safe_filled(self) -> float:
        return self.filled

    @property
    def safe_amount(self) -> float:
        return self.amount

    @property
    def safe_amount_after_fee(self) -> float:
        return self.filled


def _order(raw: dict[str, Any]) -> Order:
    return Order(
        ft_order_side=raw.get("ft_order_side") or raw["side"],
        status=raw["status"],
        price=raw["price"],
        amount=raw["amount"],
        filled=raw["filled"] or 0.0,
        average=raw["average"],
        cost=raw["cost"],
        order_id=raw["order_id"],
        order_date=raw["created_at"],
        order_filled_date=raw["updated_at"] if raw["status"] == "closed" else None,
        ft_order_tag=raw["reason"],
    )


class Trade:
    """A trade with freqtrade's commonly used attributes and methods (spot, long only)."""

    _repository: ClassVar[TradeRepository | None] = None

    is_short = False
    leverage = 1.0
    entry_side = "buy"
    exit_side = "sell"
    trade_direction = "long"
    liquidation_price = None

    def __init__(
        self,
        value: TradeValue,
        orders: list[Order] | None = None,
        custom_data: dict[str, Any] | None = None,
    ) -> None:
        self._value = value
        self.orders: list[Order] = list(orders or [])
        self._custom = dict(custom_data or {})
        self._store: TradeRepository | None = None  # where set_custom_data writes
        self.max_rate: float | None = value.max_rate
        self.min_rate: float | None = value.min_rate
        self.stop_loss: float | None = value.stop_loss
        self.stop_loss_pct: float | None = value.stop_loss_pct
        self.initial_stop_loss: float | None = value.initial_stop_loss
        self.initial_stop_loss_pct: float | None = value.initial_stop_loss_pct
        self.is_stop_loss_trailing: bool = value.is_stop_loss_trailing
        stops = [o.order_date for o in self.orders if o.ft_order_side == "stoploss"]
        self.stoploss_last_update: datetime | None = max(stops, default=None)

    # --- the repository ---------------------------------------------------------------
    @classmethod
    def bind(cls, repository: TradeRepository | None) -> None:
        """Answer ``get_trades_proxy`` and store custom data with ``repository``."""
        cls._repository = repository

    @classmethod
    def load(cls, value: TradeValue, repository: TradeRepository | None = None) -> Trade:
        repo = repository or cls._repository
        if repo is None or value.id is None:
            return cls(value)
        orders = [_order(o) for o in repo.orders_for(value.id)]
        trade = cls(value, orders, repo.custom_data(value.id))
        trade._store = repo
        return trade

    @classmethod
    def get_trades_proxy(
        cls,
        *,
        pair: str | None = None,
        is_open: bool | None = None,
        open_date: datetime | None = None,
        close_date: datetime | None = None,
    ) -> list[Trade]:
        """Trades matching every given filter (``open_date``/``close_date``: on or after)."""
        if cls._repository is None:
            return []
        found = [cls.load(t) for t in cls._repository.find_trades(pair=pair, is_open=is_open)]
        if open_date is not None:
            found = [t for t in found if t.open_date >= open_date]
        if close_date is not None:
            found = [t for t in found if t.close_date is not None and t.close_date >= close_date]
        return found

    @classmethod
    def get_open_trades(cls) -> list[Trade]:
        return cls.get_trades_proxy(is_open=True)

    @classmethod
    def get_open_trade_count(cls) -> int:
        return 0 if cls._repository is None else cls._repository.count(is_open=True)

    # --- values -----------------------------------------------------------------------
    @property
    def value(self) -> TradeValue:
        """The stored value with the current risk state."""
        return replace(self._value, **self.risk_state())

    def risk_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RISK_FIELDS}

    id = property(lambda self: self._value.id)
    pair = property(lambda self: self._value.pair)
    is_open = property(lambda self: self._value.is_open)
    open_rate = property(lambda self: self._value.open_rate)
    open_date = property(lambda self: self._value.open_date)
    open_date_utc = property(lambda self: self._value.open_date)
    close_date = property(lambda self: self._value.close_date)
    close_date_utc = property(lambda self: self._value.close_date)
    close_rate = property(lambda self: self._value.close_rate)
    close_profit = property(lambda self: self._value.close_profit)
    close_profit_abs = property(lambda self: self._value.close_profit_abs)
    fee_open = property(lambda self: self._value.fee_open)
    fee_close = property(lambda self: self._value.fee_close)
    enter_tag = property(lambda self: self._value.enter_tag)
    exit_reason = property(lambda self: self._value.exit_reason)
    strategy = property(lambda self: self._value.strategy)
    timeframe = property(lambda self: self._value.timeframe)
    base_currency = property(lambda self: self._value.pair.split("/")[0])
    stake_currency = property(lambda self: self._value.pair.split("/")[1])

    @property
    def amount(self) -> float:
        """What the trade still holds (bought minus sold by partial exits)."""
        if not self.is_open:
            return self._value.amount
        sold = [o.filled for o in self.orders if o.ft_order_side != "buy" and o.filled]
        return exact_difference(self._value.amount, sold)

    @property
    def stake_amount(self) -> float:
        """The stake in the amount still held, fees included."""
        return self.amount * self.open_rate * (1 + self.fee_open)

    @property
    def open_trade_value(self) -> float:
        return self.stake_amount

    @property
    def has_open_orders(self) -> bool:
        """Open entry or exit orders (a stop order on the exchange is not one)."""
        return bool(self.open_orders)

    @property
    def open_orders(self) -> list[Order]:
        return [o for o in self.orders if o.ft_is_open and o.ft_order_side != "stoploss"]

    @property
    def has_open_sl_orders(self) -> bool:
        return bool(self.open_sl_orders)

    @property
    def open_sl_orders(self) -> list[Order]:
        """Stop orders open on the exchange (``stoploss_on_exchange``)."""
        return [o for o in self.orders if o.ft_is_open and o.ft_order_side == "stoploss"]

    @property
    def nr_of_successful_entries(self) -> int:
        return len(self.select_filled_orders(self.entry_side))

    @property
    def nr_of_successful_exits(self) -> int:
        return len(self.select_filled_orders(self.exit_side))

    nr_of_successful_buys = nr_of_successful_entries
    nr_of_successful_sells = nr_of_successful_exits

    @property
    def date_last_filled_utc(self) -> datetime:
        dates = [o.order_filled_date for o in self.orders if o.order_filled_date]
        return max(dates, default=self.open_date)

    def select_filled_orders(self, order_side: str | None = None) -> list[Order]:
        """Orders of ``order_side`` ("buy"/"sell", None: both) that filled something."""
        return [
            o
            for o in self.orders
            if (order_side is None or o.ft_order_side == order_side)
            and o.filled > 0
            and not o.ft_is_open
        ]

    def select_order(
        self, order_side: str | None = None, is_open: bool | None = None
    ) -> Order | None:
        """The latest order of ``order_side`` (and open or not), or None."""
        for order in reversed(self.orders):
            if order_side is not None and order.ft_order_side != order_side:
                continue
            if is_open is not None and order.ft_is_open != is_open:
                continue
            return order
        return None

    # --- profit -----------------------------------------------------------------------
    def calc_profit(
        self, rate: float, amount: float | None = None, open_rate: float | None = None
    ) -> float:
        """Absolute profit of selling ``amount`` (default: all held) at ``rate``, fees included."""
        amount = self.amount if amount is None else amount
        open_rate = self.open_rate if open_rate is None else open_rate
        spent = amount * open_rate * (1 + self.fee_open)
        return amount * rate * (1 - self.fee_close) - spent

    def calc_profit_ratio(
        self, rate: float, amount: float | None = None, open_rate: float | None = None
    ) -> float:
        """Profit of selling at ``rate`` relative to what was spent, both fees included."""
        amount = self.amount if amount is None else amount
        open_rate = self.open_rate if open_rate is None else open_rate
        spent = amount * open_rate * (1 + self.fee_open)
        if spent == 0:
            return 0.0
        return (amount * rate * (1 - self.fee_close) - spent) / spent

    # --- risk state -------------------------------------------------------------------
    def adjust_min_max_rates(self, current_price: float, current_price_low: float) -> None:
        """Track the highest and lowest rate seen while the trade is open."""
        self.max_rate = max(current_price, self.max_rate or self.open_rate)
        self.min_rate = min(current_price_low, self.min_rate or self.open_rate)

    def adjust_stop_loss(
        self,
        current_price: float,
        stoploss: float | None,
        initial: bool = False,
        allow_refresh: bool = False,
    ) -> None:
        """Move the stop to ``|stoploss|`` below ``current_price`` if that raises it.

        ``initial``: set it only when none is set yet. ``allow_refresh``: the stop may
        also move down (custom stoploss right after a fill).
        """
        if stoploss is None or (initial and self.stop_loss):
            return
        new_loss = current_price * (1 - abs(stoploss))
        if self.initial_stop_loss_pct is None:
            self._set_stop_loss(new_loss, stoploss)
            self.initial_stop_loss = new_loss
            self.initial_stop_loss_pct = -abs(stoploss)
        elif allow_refresh or new_loss > (self.stop_loss or 0.0):
            if not allow_refresh:
                self.is_stop_loss_trailing = True
            self._set_stop_loss(new_loss, stoploss)

    def _set_stop_loss(self, stop_loss: float, percent: float) -> None:
        self.stop_loss = stop_loss
        self.stop_loss_pct = -abs(percent)

    # --- custom data ------------------------------------------------------------------
    def get_custom_data(self, key: str, default: Any = None) -> Any:
        return self._custom.get(key, default)

    def set_custom_data(self, key: str, value: Any) -> None:
        """Keep ``value`` (JSON-serializable) under ``key``; stored at once."""
        self._custom[key] = value
        if self._store is not None and self.id is not None:
            self._store.set_custom_data(self.id, key, value)

    def get_all_custom_data(self) -> dict[str, Any]:
        return dict(self._custom)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"Trade(id={self.id}, pair={self.pair}, amount={self.amount:.8f}, open_rate={self.open_rate:.8f}, {state})"
