"""Locks and the protections that make them, as freqtrade runs them in a live bot.

- After every closed trade: the pair is locked until the next candle opens ("Auto
  lock", so it is not re-entered on the candle it exited on), then each protection may
  lock the pair and each may lock every pair. A new lock is only made when no lock in
  force already lasts past its end.
- Before an entry: no entry at all while a global lock on both sides is in force (at
  the current time); no entry on a pair locked for the long side at the close of the
  candle whose signal asks for it.

Locks live in a ``LockStore`` (SQLite in the bot, ``MemoryLockStore`` in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from candlecast.bot.protections.rules import (
    PROTECTIONS,
    Protection,
    ProtectionReturn,
    TradeSource,
)
from candlecast.domain.locks import (
    BOTH_SIDES,
    GLOBAL,
    PairLock,
    in_force,
    next_candle_open,
)
from candlecast.exceptions import ConfigError

logger = logging.getLogger(__name__)

AUTO_LOCK_REASON = "Auto lock"
_NUMBERS = {
    "stop_duration_candles": (int, 0),
    "stop_duration": (float, 0),
    "lookback_period_candles": (int, 1),
    "lookback_period": (float, 0),
    "trade_limit": (int, 1),
    "required_profit": (float, None),
    "max_allowed_drawdown": (float, 0),
}


class LockStore(Protocol):
    def add(self, lock: PairLock) -> PairLock:
        """Store a new lock; return it with its id."""
        ...

    def in_force(self, pair: str | None, now: datetime, side: str | None) -> list[PairLock]:
        """Active locks of ``pair`` (None: all) ending after ``now`` for ``side``."""
        ...


class MemoryLockStore:
    """Locks in a list (tests, or a bot without a database)."""

    def __init__(self) -> None:
        self.locks: list[PairLock] = []

    def add(self, lock: PairLock) -> PairLock:
        stored = PairLock(
            len(self.locks) + 1,
            lock.pair,
            lock.side,
            lock.reason,
            lock.lock_time,
            lock.lock_end_time,
            lock.active,
        )
        self.locks.append(stored)
        return stored

    def in_force(self, pair: str | None, now: datetime, side: str | None) -> list[PairLock]:
        return in_force(self.locks, pair, now, side)


def parse_protections(settings: object, timeframe: str) -> list[Protection]:
    """Build the protections of a strategy's ``protections`` list.

    Raises:
        ConfigError: an entry is not a dict, names an unknown method, sets both of a
            pair of exclusive keys, or has a value of the wrong type.
    """
    if settings is None:
        return []
    if not isinstance(settings, Sequence) or isinstance(settings, str):
        raise ConfigError(f"protections: expected a list of dicts, got {type(settings).__name__}")
    built: list[Protection] = []
    for i, entry in enumerate(settings):
        where = f"protections[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a dict, got {type(entry).__name__}")
        _check_entry(where, entry)
        built.append(PROTECTIONS[str(entry["method"])](entry, timeframe))
    return built


def _check_entry(where: str, entry: Mapping[str, Any]) -> None:
    method = entry.get("method")
    if method not in PROTECTIONS:
        raise ConfigError(
            f"{where}.method: expected one of {', '.join(sorted(PROTECTIONS))}, got {method!r}"
        )
    for a, b in (
        ("stop_duration", "stop_duration_candles"),
        ("lookback_period", "lookback_period_candles"),
        ("unlock_at", "stop_duration"),
        ("unlock_at", "stop_duration_candles"),
    ):
        if a in entry and b in entry:
            raise ConfigError(f"{where}: set either {a} or {b}, not both ({method})")
    for key, (kind, low) in _NUMBERS.items():
        if key not in entry:
            continue
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
        if kind is int and value != int(value):
            raise ConfigError(f"{where}.{key}: expected a whole number, got {value!r}")
        if low is not None and value < low:
            raise ConfigError(f"{where}.{key}: expected a number >= {low}, got {value!r}")
    if "unlock_at" in entry:
        _check_unlock_at(where, entry["unlock_at"])
    mode = entry.get("calculation_mode", "ratios")
    if method == "MaxDrawdown" and mode not in ("ratios", "equity"):
        raise ConfigError(f'{where}.calculation_mode: expected "ratios" or "equity", got {mode!r}')


def _check_unlock_at(where: str, value: object) -> None:
    parts = str(value).split(":")
    ok = len(parts) == 2 and all(p.isdigit() for p in parts)
    if not ok or not (0 <= int(parts[0]) < 24 and 0 <= int(parts[1]) < 60):
        raise ConfigError(f'{where}.unlock_at: expected a time of day "HH:MM", got {value!r}')


class ProtectionManager:
    """Runs the protections after each closed trade and answers "may this pair enter?"."""

    def __init__(
        self,
        protections: Sequence[Protection],
        timeframe: str,
        store: LockStore,
        closed_trades: TradeSource,
    ) -> None:
        self.protections = list(protections)
        self.timeframe = timeframe
        self.store = store
        self.closed_trades = closed_trades
        self._logged: set[object] = set()

    def log_once(self, key: object, message: str, *args: object) -> None:
        """Log ``message`` the first time ``key`` is seen (a lock is reported once)."""
        if key not in self._logged:
            self._logged.add(key)
            logger.info(message, *args)

    @property
    def needs_balance(self) -> bool:
        """Whether a protection uses the starting balance (MaxDrawdown in equity mode)."""
        return any(getattr(p, "calculation_mode", None) == "equity" for p in self.protections)

    def short_desc(self) -> list[str]:
        return [p.short_desc() for p in self.protections]

    def lock_pair(
        self,
        pair: str,
        until: datetime,
        reason: str | None,
        now: datetime,
        side: str = BOTH_SIDES,
    ) -> PairLock:
        """Lock ``pair`` (``"*"``: every pair) from ``now`` until the candle open after
        ``until``."""
        lock = PairLock(None, pair, side, reason, now, next_candle_open(self.timeframe, until))
        stored = self.store.add(lock)
        logger.info(
            "Locked %s (%s side) until %s: %s",
            "every pair" if pair == GLOBAL else pair,
            side,
            stored.lock_end_time.isoformat(),
            reason,
        )
        return stored

    def handle_close(
        self, pair: str, now: datetime, side: str = "long", starting_balance: float = 0.0
    ) -> list[PairLock]:
        """After a trade of ``pair`` closed: the auto lock, then the protections' locks."""
        made = [self.lock_pair(pair, now, AUTO_LOCK_REASON, now, side)]
        made += self.stop_per_pair(pair, now, side, starting_balance)
        made += self.global_stop(now, side, starting_balance)
        return made

    def stop_per_pair(
        self, pair: str, now: datetime, side: str = "long", starting_balance: float = 0.0
    ) -> list[PairLock]:
        made = []
        for protection in self.protections:
            if protection.has_local_stop:
                verdict = protection.stop_per_pair(
                    self.closed_trades, pair, now, side, starting_balance
                )
                lock = self._maybe_lock(pair, verdict, now)
                if lock is not None:
                    made.append(lock)
        return made

    def global_stop(
        self, now: datetime, side: str = "long", starting_balance: float = 0.0
    ) -> list[PairLock]:
        made = []
        for protection in self.protections:
            if protection.has_global_stop:
                verdict = protection.global_stop(self.closed_trades, now, side, starting_balance)
                lock = self._maybe_lock(GLOBAL, verdict, now)
                if lock is not None:
                    made.append(lock)
        return made

    def _maybe_lock(
        self, pair: str, verdict: ProtectionReturn | None, now: datetime
    ) -> PairLock | None:
        if verdict is None or self._locked(pair, verdict.until, verdict.lock_side):
            return None
        return self.lock_pair(pair, verdict.until, verdict.reason, now, verdict.lock_side)

    def _locked(self, pair: str, at: datetime, side: str) -> bool:
        if self.store.in_force(pair, at, side):
            return True
        return bool(self.store.in_force(GLOBAL, at, side))

    # --- entries ----------------------------------------------------------------------
    def global_lock(self, now: datetime) -> PairLock | None:
        """The longest global lock on both sides in force at ``now`` (no entry at all)."""
        locks = self.store.in_force(GLOBAL, now, BOTH_SIDES)
        return max(locks, key=lambda lock: lock.lock_end_time) if locks else None

    def entry_lock(
        self, pair: str, candle_date: datetime | None, now: datetime, side: str = "long"
    ) -> PairLock | None:
        """The longest lock that keeps ``pair`` from entering on the signal of the candle
        opened at ``candle_date``: locks in force when that candle closes (at ``now``
        when there is no candle)."""
        at = next_candle_open(self.timeframe, candle_date) if candle_date else now
        locks = self.store.in_force(pair, at, side) + self.store.in_force(GLOBAL, at, side)
        return max(locks, key=lambda lock: lock.lock_end_time) if locks else None


class StrategyLocks:
    """What ``IStrategy.lock_pair`` and friends call: the bot's locks at the bot's time."""

    def __init__(self, manager: ProtectionManager, release: Any, clock: Any) -> None:
        self.manager = manager
        self.release = release
        self.clock = clock

    def lock_pair(self, pair: str, until: datetime, reason: str | None, side: str) -> PairLock:
        return self.manager.lock_pair(pair, until, reason, self.clock.now(), side)

    def unlock_pair(self, pair: str) -> None:
        self.release.release(self.clock.now(), pair=pair)

    def unlock_reason(self, reason: str) -> None:
        self.release.release_reason(self.clock.now(), reason)

    def is_pair_locked(self, pair: str, candle_date: datetime | None, side: str) -> bool:
        now = self.clock.now()
        at = next_candle_open(self.manager.timeframe, candle_date) if candle_date else now
        store = self.manager.store
        return bool(store.in_force(pair, at, side) or store.in_force(GLOBAL, at, side))
