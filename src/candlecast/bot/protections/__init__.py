"""Protections (freqtrade's CooldownPeriod, StoplossGuard, LowProfitPairs, MaxDrawdown)
and the pair locks they make."""

from candlecast.bot.protections.manager import (
    AUTO_LOCK_REASON,
    LockStore,
    MemoryLockStore,
    ProtectionManager,
    parse_protections,
)
from candlecast.bot.protections.rules import (
    PROTECTIONS,
    CooldownPeriod,
    LowProfitPairs,
    MaxDrawdown,
    Protection,
    ProtectionReturn,
    StoplossGuard,
    TradeSource,
)

__all__ = [
    "AUTO_LOCK_REASON",
    "PROTECTIONS",
    "CooldownPeriod",
    "LockStore",
    "LowProfitPairs",
    "MaxDrawdown",
    "MemoryLockStore",
    "Protection",
    "ProtectionManager",
    "ProtectionReturn",
    "StoplossGuard",
    "TradeSource",
    "parse_protections",
]
