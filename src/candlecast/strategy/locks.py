"""freqtrade's pair-lock methods of a strategy: ``self.lock_pair(...)`` and friends.

The bot sets ``pair_locks`` (an object with the four methods below, backed by the bot's
lock store and clock) before the first cycle; without a bot they raise StrategyError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from candlecast.exceptions import StrategyError


class PairLocking:
    """Mixed into ``IStrategy``."""

    pair_locks: Any = None

    def _locks(self) -> Any:
        if self.pair_locks is None:
            raise StrategyError("pair locks are only available in a running bot")
        return self.pair_locks

    def lock_pair(
        self, pair: str, until: datetime, reason: str | None = None, side: str = "*"
    ) -> None:
        """Lock ``pair`` (``"*"``: every pair) until the candle open after ``until``."""
        self._locks().lock_pair(pair, until, reason, side)

    def unlock_pair(self, pair: str) -> None:
        """End the locks of ``pair`` in force now."""
        self._locks().unlock_pair(pair)

    def unlock_reason(self, reason: str) -> None:
        """End every lock in force now that was made with ``reason``."""
        self._locks().unlock_reason(reason)

    def is_pair_locked(
        self, pair: str, *, candle_date: datetime | None = None, side: str = "*"
    ) -> bool:
        """Whether ``pair`` (or every pair) is locked now, or when the candle opened at
        ``candle_date`` closes."""
        return bool(self._locks().is_pair_locked(pair, candle_date, side))
