"""The trade repository: the only module that speaks SQL.

Each state change (open a trade with its buy order, close it with its sell order)
is one transaction, so a ``kill -9`` at any moment leaves either the whole change
or none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from candlecast.domain.trades import Trade
from candlecast.persistence.models import Base, OrderRow, TradeRow

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
)


def _to_trade(row: TradeRow) -> Trade:
    return Trade(**{name: getattr(row, name) for name in _FIELDS})


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
                OrderRow(
                    trade_id=row.id,
                    side="buy",
                    status="closed",
                    price=trade.open_rate,
                    amount=trade.amount,
                    cost=trade.amount * trade.open_rate,
                    fee=trade.amount * trade.open_rate * trade.fee_open,
                    created_at=when,
                )
            )
            session.flush()
            return _to_trade(row)

    def close_trade(self, trade: Trade) -> Trade:
        """Mark ``trade`` (already ``closed()``) as closed and store its sell order."""
        if trade.id is None or trade.close_rate is None or trade.close_date is None:
            raise ValueError("close_trade needs a stored trade that has been closed")
        with self._tx() as session:
            row = session.get(TradeRow, trade.id)
            if row is None or not row.is_open:
                raise ValueError(f"trade {trade.id} is not open")
            for name in (
                "is_open",
                "close_date",
                "close_rate",
                "exit_reason",
                "close_profit",
                "close_profit_abs",
            ):
                setattr(row, name, getattr(trade, name))
            session.add(
                OrderRow(
                    trade_id=row.id,
                    side="sell",
                    status="closed",
                    price=trade.close_rate,
                    amount=trade.amount,
                    cost=trade.amount * trade.close_rate,
                    fee=trade.amount * trade.close_rate * trade.fee_close,
                    created_at=trade.close_date,
                )
            )
            return _to_trade(row)

    def orders_for(self, trade_id: int) -> list[dict]:
        with self._sessions() as session:
            rows = session.scalars(
                select(OrderRow).where(OrderRow.trade_id == trade_id).order_by(OrderRow.id)
            )
            return [
                {"side": r.side, "price": r.price, "amount": r.amount, "status": r.status}
                for r in rows
            ]

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
