"""The trade repository: the only module that speaks SQL.

Each state change (open a trade with its buy order, close it with its sell order)
is one transaction, so a ``kill -9`` at any moment leaves either the whole change
or none of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, inspect, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from candlecast.domain.orders import OrderState
from candlecast.domain.trades import (
    RISK_FIELDS,
    OrderRecord,
    Trade,
    exact_difference,
    exact_sum,
)
from candlecast.persistence.models import Base, CustomDataRow, OrderRow, TradeRow

_FIELDS = (
    "id",
    "pair",
    "is_open",
    "open_date",
    "open_rate",
    "amount",
    "stake_amount",
    "fee_open",
    "fee_close",
    "strategy",
    "timeframe",
    "enter_tag",
    "close_date",
    "close_rate",
    "exit_reason",
    "close_profit",
    "close_profit_abs",
    *RISK_FIELDS,
)


#: ``ft_order_side`` of a stop order placed on the exchange, and the exit reason of its fill
STOPLOSS = "stoploss"
STOPLOSS_ON_EXCHANGE = "stoploss_on_exchange"


def _to_trade(row: TradeRow) -> Trade:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["is_stop_loss_trailing"] = bool(values["is_stop_loss_trailing"])
    return Trade(**values)


_CLOSE_FIELDS = (
    "is_open",
    "close_date",
    "close_rate",
    "exit_reason",
    "close_profit",
    "close_profit_abs",
)


def default_db_url(user_data_dir: str, dry_run: bool) -> str:
    name = "tradesv3.dryrun.sqlite" if dry_run else "tradesv3.sqlite"
    return f"sqlite:///{Path(user_data_dir) / name}"


class TradeRepository:
    """Persist and query trades."""

    def __init__(self, db_url: str) -> None:
        if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
            Path(db_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(db_url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def open_trades(self) -> list[Trade]:
        with self._sessions() as session:
            rows = session.scalars(
                select(TradeRow).where(TradeRow.is_open.is_(True)).order_by(TradeRow.id)
            )
            return [_to_trade(r) for r in rows]

    def trades(self, limit: int = 500) -> list[Trade]:
        with self._sessions() as session:
            rows = session.scalars(select(TradeRow).order_by(TradeRow.id.desc()).limit(limit))
            return [_to_trade(r) for r in rows]

    def closed_profit_abs(self) -> float:
        """The profit of every closed trade, in the stake currency."""
        with self._sessions() as session:
            query = select(func.sum(TradeRow.close_profit_abs)).where(TradeRow.is_open.is_(False))
            return float(session.scalar(query) or 0.0)

    def count(self, is_open: bool | None = None) -> int:
        with self._sessions() as session:
            query = select(func.count(TradeRow.id))
            if is_open is not None:
                query = query.where(TradeRow.is_open.is_(is_open))
            return int(session.scalar(query) or 0)

    def realized_profit(self) -> float:
        with self._sessions() as session:
            total = session.scalar(
                select(func.sum(TradeRow.close_profit_abs)).where(TradeRow.is_open.is_(False))
            )
            return float(total or 0.0)

    def add_open_trade(self, trade: Trade, when: datetime) -> Trade:
        """Store a new open trade and its filled buy order in one transaction."""
        with self._tx() as session:
            row = TradeRow(**{k: getattr(trade, k) for k in _FIELDS if k != "id"})
            session.add(row)
            session.flush()
            session.add(
                _filled_order(row.id, "buy", trade.open_rate, trade.amount, trade.fee_open, when)
            )
            session.flush()
            return _to_trade(row)

    def close_trade(self, trade: Trade) -> Trade:
        """Mark ``trade`` (already ``closed()``) as closed and store its sell order.

        The sell is for what is still held; after partial exits the trade closes at
        the average of all its sells."""
        if trade.id is None or trade.close_rate is None or trade.close_date is None:
            raise ValueError("close_trade needs a stored trade that has been closed")
        with self._tx() as session:
            row = session.get(TradeRow, trade.id)
            if row is None or not row.is_open:
                raise ValueError(f"trade {trade.id} is not open")
            sold = _sell_fills(session, row.id)
            session.add(
                _filled_order(
                    row.id,
                    "sell",
                    trade.close_rate,
                    exact_difference(row.amount, sold),
                    trade.fee_close,
                    trade.close_date,
                    trade.exit_reason,
                )
            )
            if sold:
                session.flush()
                closed = _close_on_sells(
                    session, row, trade.close_date, trade.exit_reason, whole_amount=False
                )
                assert closed is not None
                return closed
            for name in _CLOSE_FIELDS:
                setattr(row, name, getattr(trade, name))
            return _to_trade(row)

    def add_entry_fill(
        self, trade_id: int, rate: float, amount: float, fee: float, when: datetime, tag: str | None
    ) -> Trade:
        """Dry-run position adjustment: a filled buy adds to the trade (average open rate)."""
        with self._tx() as session:
            row = _open_row(session, trade_id)
            session.add(_filled_order(row.id, "buy", rate, amount, fee, when, tag))
            session.flush()
            _recalc_entries(session, row)
            return _to_trade(row)

    def add_exit_fill(
        self, trade_id: int, rate: float, amount: float, fee: float, when: datetime, reason: str
    ) -> Trade:
        """Dry-run partial exit: a filled sell of part of the trade, which stays open."""
        with self._tx() as session:
            row = _open_row(session, trade_id)
            session.add(_filled_order(row.id, "sell", rate, amount, fee, when, reason))
            return _to_trade(row)

    def update_risk(self, trade_id: int, values: dict[str, Any]) -> None:
        """Store the stop-loss state and price extremes of an open trade."""
        unknown = set(values) - set(RISK_FIELDS)
        if unknown:
            raise ValueError(f"not risk fields: {sorted(unknown)}")
        with self._tx() as session:
            row = session.get(TradeRow, trade_id)
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)

    def custom_data(self, trade_id: int) -> dict[str, Any]:
        with self._sessions() as session:
            rows = session.scalars(
                select(CustomDataRow)
                .where(CustomDataRow.trade_id == trade_id)
                .order_by(CustomDataRow.id)
            )
            return {r.key: json.loads(r.value) for r in rows}

    def set_custom_data(self, trade_id: int, key: str, value: Any) -> None:
        """Store ``value`` (anything JSON can hold) under ``key`` for the trade."""
        encoded = json.dumps(value)
        with self._tx() as session:
            row = session.scalar(
                select(CustomDataRow).where(
                    CustomDataRow.trade_id == trade_id, CustomDataRow.key == key
                )
            )
            if row is None:
                session.add(CustomDataRow(trade_id=trade_id, key=key, value=encoded))
            else:
                row.value = encoded

    def find_trades(self, pair: str | None = None, is_open: bool | None = None) -> list[Trade]:
        """Trades of ``pair`` and/or with ``is_open``, oldest first."""
        with self._sessions() as session:
            query = select(TradeRow).order_by(TradeRow.id)
            if pair is not None:
                query = query.where(TradeRow.pair == pair)
            if is_open is not None:
                query = query.where(TradeRow.is_open.is_(is_open))
            return [_to_trade(r) for r in session.scalars(query)]

    # --- live orders ------------------------------------------------------------------
    def add_pending_entry(
        self, trade: Trade, order: OrderState, when: datetime
    ) -> tuple[Trade, OrderRecord]:
        """Store a trade whose buy order is on the exchange (amount as ordered, for now)."""
        with self._tx() as session:
            row = TradeRow(**{k: getattr(trade, k) for k in _FIELDS if k != "id"})
            session.add(row)
            session.flush()
            order_row = _order_row(row.id, order, when)
            session.add(order_row)
            session.flush()
            if order.status != "open" and order.filled > 0:
                _recalc_entries(session, row)  # filled at once: in the same transaction
            return _to_trade(row), _to_record(order_row, row.pair)

    def add_entry_order(
        self, trade: Trade, order: OrderState, when: datetime, tag: str | None = None
    ) -> OrderRecord:
        """Live position adjustment: a buy order for a trade that is already open."""
        assert trade.id is not None
        with self._tx() as session:
            order_row = _order_row(trade.id, order, when, tag)
            session.add(order_row)
            session.flush()
            row = session.get(TradeRow, trade.id)
            if row is not None and order.status != "open" and order.filled > 0:
                _recalc_entries(session, row)  # filled at once: in the same transaction
            return _to_record(order_row, trade.pair)

    def add_exit_order(
        self, trade: Trade, order: OrderState, reason: str, when: datetime
    ) -> tuple[OrderRecord, Trade | None]:
        """Store a sell order; one that is already settled (filled at once) closes the
        trade in the same transaction when it sold everything, so a kill can never leave
        an open trade whose coins are sold. Returns the order and the closed trade."""
        assert trade.id is not None
        with self._tx() as session:
            order_row = _order_row(trade.id, order, when, reason)
            session.add(order_row)
            session.flush()
            closed = None
            if order.status != "open":
                row = session.get(TradeRow, trade.id)
                if row is not None and row.is_open:
                    closed = _close_on_sells(session, row, when, reason, whole_amount=True)
            return _to_record(order_row, trade.pair), closed

    def open_orders(self) -> list[OrderRecord]:
        """Entry and exit orders still open on the exchange, oldest first (stop orders,
        which wait on the exchange for as long as the trade is open, are not among them)."""
        with self._sessions() as session:
            rows = session.execute(
                select(OrderRow, TradeRow.pair)
                .join(TradeRow, TradeRow.id == OrderRow.trade_id)
                .where(
                    OrderRow.status == "open",
                    or_(OrderRow.ft_order_side.is_(None), OrderRow.ft_order_side != STOPLOSS),
                )
                .order_by(OrderRow.id)
            )
            return [_to_record(o, pair) for o, pair in rows]

    def replace_order(
        self, record: OrderRecord, cancelled: OrderState, new: OrderState, when: datetime
    ) -> OrderRecord:
        """An order replaced at another price (``adjust_entry_price`` and friends): the
        cancelled one keeps what it filled (a buy without fill goes), the new one joins the
        same trade, which stays as it is (an unfilled entry takes the new order's price)."""
        with self._tx() as session:
            row = session.get(OrderRow, record.id)
            trade = session.get(TradeRow, record.trade_id)
            if row is None or trade is None:
                raise ValueError(f"order {record.order_id} is not stored")
            _update_order_row(row, cancelled, when)
            if record.side == "buy" and cancelled.filled <= 0:
                session.delete(row)
            new_row = _order_row(record.trade_id, new, when, record.reason)
            session.add(new_row)
            session.flush()
            if record.side == "buy" and not _recalc_entries(session, trade):
                trade.open_rate = new.price
                trade.amount = new.amount
                trade.stake_amount = new.amount * new.price * (1 + trade.fee_open)
            return _to_record(new_row, trade.pair)

    def add_stop_order(
        self, trade: Trade, order: OrderState, stop_price: float, when: datetime
    ) -> tuple[OrderRecord, Trade | None]:
        """Store a stop order placed on the exchange for ``trade``; one that filled at once
        (the price was already past the stop) closes the trade in the same transaction.
        Returns the order and the closed trade."""
        assert trade.id is not None
        with self._tx() as session:
            order_row = _order_row(trade.id, order, when, STOPLOSS_ON_EXCHANGE)
            order_row.ft_order_side = STOPLOSS
            order_row.stop_price = stop_price
            session.add(order_row)
            session.flush()
            closed = None
            if order.status != "open":
                row = session.get(TradeRow, trade.id)
                if row is not None and row.is_open:
                    closed = _close_on_sells(
                        session, row, when, STOPLOSS_ON_EXCHANGE, whole_amount=True
                    )
            return _to_record(order_row, trade.pair), closed

    def open_stop_orders(self) -> list[OrderRecord]:
        """The stop orders open on the exchange (``stoploss_on_exchange``), oldest first."""
        with self._sessions() as session:
            rows = session.execute(
                select(OrderRow, TradeRow.pair)
                .join(TradeRow, TradeRow.id == OrderRow.trade_id)
                .where(OrderRow.status == "open", OrderRow.ft_order_side == STOPLOSS)
                .order_by(OrderRow.id)
            )
            return [_to_record(o, pair) for o, pair in rows]

    def sold_amount(self, trade_id: int) -> float:
        """How much of the trade's amount its sell orders have filled so far."""
        with self._sessions() as session:
            fills = session.scalars(
                select(OrderRow.filled).where(
                    OrderRow.trade_id == trade_id, OrderRow.side == "sell"
                )
            )
            return exact_sum(f or 0.0 for f in fills)

    def settle_entry(self, record: OrderRecord, order: OrderState, when: datetime) -> Trade | None:
        """Record the buy order's progress; once it is final, the trade takes its fill.

        The trade's amount is what all its final buys filled and its open rate their
        average. A buy cancelled without any fill is deleted, and with it the trade when
        no other buy filled. Returns the trade as stored, or None when it was deleted.
        """
        with self._tx() as session:
            row = session.get(OrderRow, record.id)
            trade = session.get(TradeRow, record.trade_id)
            if row is None or trade is None:
                return None
            _update_order_row(row, order, when)
            if order.status != "open":
                if order.filled <= 0:
                    session.delete(row)
                    session.flush()
                    if not _recalc_entries(session, trade):
                        session.execute(
                            delete(CustomDataRow).where(CustomDataRow.trade_id == trade.id)
                        )
                        session.delete(trade)
                        return None
                else:
                    session.flush()
                    _recalc_entries(session, trade)
            return _to_trade(trade)

    def settle_exit(self, record: OrderRecord, order: OrderState, when: datetime) -> Trade | None:
        """Record the sell order's progress; close the trade once its whole amount is sold.

        The close rate is the average over every sell order's fills. Returns the closed
        trade, or None while some amount is still held.
        """
        with self._tx() as session:
            row = session.get(OrderRow, record.id)
            trade = session.get(TradeRow, record.trade_id)
            if row is None or trade is None:
                return None
            _update_order_row(row, order, when)
            session.flush()
            if not trade.is_open:
                return None
            return _close_on_sells(session, trade, when, record.reason, whole_amount=True)

    def close_sold_part(self, trade: Trade, when: datetime) -> Trade | None:
        """Close ``trade`` on what its sells filled; the unsold rest is dust it gives up."""
        with self._tx() as session:
            row = session.get(TradeRow, trade.id)
            if row is None or not row.is_open:
                return None
            return _close_on_sells(session, row, when, None, whole_amount=False)

    def orders_for(self, trade_id: int) -> list[dict]:
        with self._sessions() as session:
            rows = session.scalars(
                select(OrderRow).where(OrderRow.trade_id == trade_id).order_by(OrderRow.id)
            )
            return [
                {
                    "side": r.side,
                    "price": r.price,
                    "amount": r.amount,
                    "filled": r.filled,
                    "average": r.average,
                    "status": r.status,
                    "order_id": r.order_id,
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                    "cost": r.cost,
                    "fee": r.fee,
                    "reason": r.reason,
                    "ft_order_side": r.ft_order_side or r.side,
                    "stop_price": r.stop_price,
                }
                for r in rows
            ]

    def close(self) -> None:
        self.engine.dispose()


def _close_on_sells(
    session: Session, trade: TradeRow, when: datetime, reason: str | None, whole_amount: bool
) -> Trade | None:
    """Close ``trade`` at the average of its sell fills (None: not all of it is sold)."""
    sells = session.scalars(
        select(OrderRow).where(OrderRow.trade_id == trade.id, OrderRow.side == "sell")
    ).all()
    sold = exact_sum(o.filled or 0.0 for o in sells)
    if sold <= 0 or (whole_amount and sold < trade.amount * (1 - 1e-9)):
        return None
    if reason is None:
        reason = next((o.reason for o in reversed(sells) if o.reason), None)
    trade.amount = min(trade.amount, sold)
    proceeds = sum((o.filled or 0.0) * (o.average or o.price) for o in sells)
    closed = _to_trade(trade).closed(proceeds / sold, when, reason or "exit")
    for name in _CLOSE_FIELDS:
        setattr(trade, name, getattr(closed, name))
    return closed


def _open_row(session: Session, trade_id: int) -> TradeRow:
    row = session.get(TradeRow, trade_id)
    if row is None or not row.is_open:
        raise ValueError(f"trade {trade_id} is not open")
    return row


def _sell_fills(session: Session, trade_id: int) -> list[float]:
    fills = session.scalars(
        select(OrderRow.filled).where(OrderRow.trade_id == trade_id, OrderRow.side == "sell")
    )
    return [f for f in fills if f]


def _recalc_entries(session: Session, trade: TradeRow) -> bool:
    """Set the trade's amount, open rate (the fill-weighted average) and stake from its
    final buy fills; False when none filled."""
    buys = session.scalars(
        select(OrderRow).where(
            OrderRow.trade_id == trade.id,
            OrderRow.side == "buy",
            OrderRow.status != "open",
            OrderRow.filled > 0,
        )
    ).all()
    if not buys:
        return False
    amount = exact_sum(o.filled or 0.0 for o in buys)
    cost = sum((o.filled or 0.0) * (o.average or o.price) for o in buys)
    trade.amount = amount
    trade.open_rate = cost / amount
    trade.stake_amount = cost * (1 + trade.fee_open)
    return True


def _to_record(row: OrderRow, pair: str) -> OrderRecord:
    return OrderRecord(
        id=row.id,
        trade_id=row.trade_id,
        pair=pair,
        side=row.side,
        order_id=row.order_id or "",
        amount=row.amount,
        created_at=row.created_at,
        reason=row.reason,
        stop_price=row.stop_price,
    )


def _filled_order(
    trade_id: int,
    side: str,
    price: float,
    amount: float,
    fee_ratio: float,
    when: datetime,
    reason: str | None = None,
) -> OrderRow:
    """A dry-run order: filled at once, whole, at ``price``."""
    cost = amount * price
    return OrderRow(
        trade_id=trade_id,
        side=side,
        status="closed",
        price=price,
        amount=amount,
        cost=cost,
        fee=cost * fee_ratio,
        created_at=when,
        filled=amount,
        reason=reason,
    )


def _order_row(
    trade_id: int, order: OrderState, when: datetime, reason: str | None = None
) -> OrderRow:
    return OrderRow(
        trade_id=trade_id,
        side=order.side,
        status=order.status,
        price=order.price,
        amount=order.amount,
        cost=order.filled * order.fill_price,
        fee=0.0,
        created_at=when,
        order_id=order.id,
        filled=order.filled,
        average=order.average,
        reason=reason,
        updated_at=when,
    )


def _update_order_row(row: OrderRow, order: OrderState, when: datetime) -> None:
    row.status = order.status
    row.filled = order.filled
    row.average = order.average
    row.cost = order.filled * order.fill_price
    row.updated_at = when


def _add_missing_columns(engine: Engine) -> None:
    """Bring a database made by an older candlecast up to the current tables.

    Only nullable columns are ever added, so old rows stay valid as they are.
    """
    existing = inspect(engine)
    for table in Base.metadata.sorted_tables:
        have = {c["name"] for c in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            kind = column.type.compile(engine.dialect)
            with engine.begin() as conn:
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
