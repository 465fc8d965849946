"""Pair locks as plain values (freqtrade's ``PairLock``): no entries on a locked pair.

A lock is for one pair, or for every pair when ``pair`` is ``"*"`` (a global lock),
and for one side (``"long"``, ``"short"``) or both (``"*"``). It is in force while it is
``active`` and its ``lock_end_time`` is later than the time asked about. End times are
rounded up to the next candle boundary when a lock is made, so a lock always ends on a
candle open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from candlecast.domain.timeframes import timeframe_to_msecs

GLOBAL = "*"
BOTH_SIDES = "*"
#: freqtrade's DATETIME_PRINT_FORMAT, used by its lock JSON
DATETIME_PRINT_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class PairLock:
    id: int | None
    pair: str
    side: str
    reason: str | None
    lock_time: datetime
    lock_end_time: datetime
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        """The lock as freqtrade's REST API shows it (``LockModel``)."""
        return {
            "id": self.id,
            "pair": self.pair,
            "lock_time": self.lock_time.strftime(DATETIME_PRINT_FORMAT),
            "lock_timestamp": _ms(self.lock_time),
            "lock_end_time": self.lock_end_time.strftime(DATETIME_PRINT_FORMAT),
            "lock_end_timestamp": _ms(self.lock_end_time),
            "reason": self.reason,
            "side": self.side,
            "active": self.active,
        }


def _ms(when: datetime) -> int:
    return int(when.astimezone(UTC).timestamp() * 1000)


def next_candle_open(timeframe: str, when: datetime) -> datetime:
    """The first candle open strictly after ``when`` (ccxt's ``round_timeframe`` up: a
    time on a boundary moves to the next one)."""
    step = timeframe_to_msecs(timeframe)
    ms = _ms(when)
    return datetime.fromtimestamp((ms - ms % step + step) / 1000, tz=UTC)


def in_force(
    locks: Iterable[PairLock], pair: str | None, now: datetime, side: str | None = None
) -> list[PairLock]:
    """The locks of ``pair`` (None: every pair) in force at ``now`` for ``side``.

    ``side`` None matches every lock; ``"*"`` only locks on both sides; ``"long"`` locks
    on the long side or on both (freqtrade's ``query_pair_locks``).
    """
    found = []
    for lock in locks:
        if not lock.active or lock.lock_end_time <= now:
            continue
        if pair is not None and lock.pair != pair:
            continue
        if side is not None:
            if side == BOTH_SIDES and lock.side != BOTH_SIDES:
                continue
            if side != BOTH_SIDES and lock.side not in (side, BOTH_SIDES):
                continue
        found.append(lock)
    return found


def is_global_lock(locks: Iterable[PairLock], now: datetime, side: str = BOTH_SIDES) -> bool:
    return bool(in_force(locks, GLOBAL, now, side))


def is_pair_locked(
    locks: Iterable[PairLock], pair: str, now: datetime, side: str = BOTH_SIDES
) -> bool:
    """True when ``pair`` or every pair is locked at ``now`` for ``side``."""
    locks = list(locks)
    return bool(in_force(locks, pair, now, side)) or is_global_lock(locks, now, side)
