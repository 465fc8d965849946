"""Pair locks in SQL (the ``pairlocks`` table), next to the trades they come from.

The table is created on start when missing, so a database made by an older
candlecast gains it on its first start with this one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from candlecast.domain.locks import BOTH_SIDES, PairLock
from candlecast.domain.trades import Trade
from candlecast.persistence.models import Base, PairLockRow, TradeRow
from candlecast.persistence.repository import TradeRepository, _to_trade


def _to_lock(row: PairLockRow) -> PairLock:
    return PairLock(
        id=row.id,
        pair=row.pair,
        side=row.side,
        reason=row.reason,
        lock_time=row.lock_time,
        lock_end_time=row.lock_end_time,
        active=bool(row.active),
    )


class LockRepository:
    """Store and query pair locks; read closed trades for the protections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        Base.metadata.create_all(engine, tables=[PairLockRow.__table__])  # type: ignore[list-item]
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def beside(cls, trades: TradeRepository) -> LockRepository:
        """The locks in the database of ``trades``."""
        return cls(trades.engine)

    def add(self, lock: PairLock) -> PairLock:
        with self._sessions.begin() as session:
            row = PairLockRow(
                pair=lock.pair,
                side=lock.side,
                reason=lock.reason,
                lock_time=lock.lock_time,
                lock_end_time=lock.lock_end_time,
                active=lock.active,
            )
            session.add(row)
            session.flush()
            return _to_lock(row)

    def in_force(self, pair: str | None, now: datetime, side: str | None = None) -> list[PairLock]:
        """Active locks of ``pair`` (None: every pair) ending after ``now``; ``side`` as
        :func:`candlecast.domain.locks.in_force`."""
        query = select(PairLockRow).where(
            PairLockRow.lock_end_time > now,
            PairLockRow.active.is_(True),
        )
        if pair is not None:
            query = query.where(PairLockRow.pair == pair)
        if side is not None and side != BOTH_SIDES:
            query = query.where(or_(PairLockRow.side == side, PairLockRow.side == BOTH_SIDES))
        elif side is not None:
            query = query.where(PairLockRow.side == BOTH_SIDES)
        with self._sessions() as session:
            return [_to_lock(r) for r in session.scalars(query.order_by(PairLockRow.id))]

    def all_locks(self) -> list[PairLock]:
        with self._sessions() as session:
            return [
                _to_lock(r) for r in session.scalars(select(PairLockRow).order_by(PairLockRow.id))
            ]

    def release(self, now: datetime, lock_id: int | None = None, pair: str | None = None) -> int:
        """End locks now: the lock ``lock_id`` and/or the locks of ``pair`` in force.
        Returns how many were released."""
        with self._sessions.begin() as session:
            rows: list[PairLockRow] = []
            if pair:
                rows += session.scalars(
                    select(PairLockRow).where(
                        PairLockRow.pair == pair,
                        PairLockRow.active.is_(True),
                        PairLockRow.lock_end_time > now,
                    )
                ).all()
            if lock_id is not None:
                row = session.get(PairLockRow, lock_id)
                if row is not None:
                    rows.append(row)
            for row in rows:
                row.active = False
                row.lock_end_time = now
            return len(rows)

    def release_reason(self, now: datetime, reason: str) -> int:
        """End now every lock in force made with ``reason``; return how many."""
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(PairLockRow).where(
                    PairLockRow.reason == reason,
                    PairLockRow.active.is_(True),
                    PairLockRow.lock_end_time > now,
                )
            ).all()
            for row in rows:
                row.active = False
                row.lock_end_time = now
            return len(rows)

    def closed_trades(self, since: datetime | None, pair: str | None) -> list[Trade]:
        """Closed trades of ``pair`` (None: all) closed after ``since`` (None: ever)."""
        query = select(TradeRow).where(TradeRow.is_open.is_(False))
        if since is not None:
            query = query.where(TradeRow.close_date > since)
        if pair is not None:
            query = query.where(TradeRow.pair == pair)
        with self._sessions() as session:
            return [_to_trade(r) for r in session.scalars(query.order_by(TradeRow.id))]
