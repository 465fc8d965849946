"""freqtrade's enumerations that strategies import from ``freqtrade.enums`` (same values)."""

from __future__ import annotations

from enum import Enum, StrEnum


class ExitType(Enum):
    ROI = "roi"
    STOP_LOSS = "stop_loss"
    STOPLOSS_ON_EXCHANGE = "stoploss_on_exchange"
    TRAILING_STOP_LOSS = "trailing_stop_loss"
    LIQUIDATION = "liquidation"
    EXIT_SIGNAL = "exit_signal"
    FORCE_EXIT = "force_exit"
    EMERGENCY_EXIT = "emergency_exit"
    CUSTOM_EXIT = "custom_exit"
    PARTIAL_EXIT = "partial_exit"
    SOLD_ON_EXCHANGE = "sold_on_exchange"
    NONE = ""

    def __str__(self) -> str:
        return self.value


class SignalDirection(StrEnum):
    LONG = "long"
    SHORT = "short"


class SignalType(Enum):
    ENTER_LONG = "enter_long"
    EXIT_LONG = "exit_long"
    ENTER_SHORT = "enter_short"
    EXIT_SHORT = "exit_short"

    def __str__(self) -> str:
        return self.value


class SignalTagType(Enum):
    ENTER_TAG = "enter_tag"
    EXIT_TAG = "exit_tag"

    def __str__(self) -> str:
        return self.value


class TradingMode(StrEnum):
    SPOT = "spot"
    MARGIN = "margin"
    FUTURES = "futures"


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"
    NONE = ""


class State(Enum):
    RUNNING = 1
    PAUSED = 2
    STOPPED = 3
    RELOAD_CONFIG = 4

    def __str__(self) -> str:
        return self.name.lower()
