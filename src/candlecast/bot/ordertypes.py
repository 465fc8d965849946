"""``order_types`` and ``order_time_in_force``: which order each entry and exit places.

Read from the strategy's attributes, each replaced whole by the config key of the same
name when given (as freqtrade). Checked when the bot starts; a problem stops the start
with one line naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from candlecast.exceptions import ConfigError

ORDER_TYPE_KEYS = ("entry", "exit", "stoploss", "emergency_exit", "force_entry", "force_exit")
REQUIRED_ORDER_TYPES = ("entry", "exit", "stoploss", "stoploss_on_exchange")
DEFAULT_ORDER_TYPES: dict[str, Any] = {
    "entry": "limit",
    "exit": "limit",
    "stoploss": "limit",
    "stoploss_on_exchange": False,
    "stoploss_on_exchange_interval": 60,
    "stoploss_on_exchange_limit_ratio": 0.99,
}
PRICE_TYPES = ("last", "mark", "index")
DEFAULT_TIME_IN_FORCE = {"entry": "GTC", "exit": "GTC"}
TIME_IN_FORCE = ("GTC", "FOK", "IOC")
#: exit reasons that place the ``stoploss`` order type (freqtrade's stop exits)
STOP_EXITS = frozenset({"stop_loss", "trailing_stop_loss", "liquidation"})


@dataclass(frozen=True)
class OrderPlan:
    """The order types and times in force a bot places."""

    entry: str = "limit"
    exit: str = "limit"
    stoploss: str = "limit"
    emergency_exit: str = "market"
    force_entry: str = "limit"
    force_exit: str = "limit"
    entry_time_in_force: str = "GTC"
    exit_time_in_force: str = "GTC"
    #: place the stop on the exchange after each entry fill (bot/stoporders.py)
    stoploss_on_exchange: bool = False
    #: seconds between two replacements of a moving stop order
    stoploss_on_exchange_interval: float = 60.0
    #: a stop-limit order's limit price, as a ratio of its stop price
    stoploss_on_exchange_limit_ratio: float = 0.99

    def as_order_types(self) -> dict[str, Any]:
        """The effective ``order_types`` as freqtrade's REST ``show_config`` gives them."""
        return {
            "entry": self.entry,
            "exit": self.exit,
            "emergency_exit": self.emergency_exit,
            "force_entry": self.force_entry,
            "force_exit": self.force_exit,
            "stoploss": self.stoploss,
            "stoploss_on_exchange": self.stoploss_on_exchange,
            "stoploss_on_exchange_interval": int(self.stoploss_on_exchange_interval),
        }

    def for_exit(self, exit_type: str) -> str:
        """The order type of an exit of ``exit_type`` (a stop exit places ``stoploss``,
        an emergency exit ``emergency_exit``)."""
        if exit_type == "emergency_exit":
            return self.emergency_exit
        return self.stoploss if exit_type in STOP_EXITS else self.exit


def resolve_order_plan(
    order_types: object, time_in_force: object, where: str = "order_types"
) -> OrderPlan:
    """Check ``order_types`` and ``order_time_in_force`` (None: freqtrade's defaults).

    Raises:
        ConfigError: a required key is missing, a type is neither "limit" nor "market",
            a stoploss-on-exchange setting is out of range, or a time in force is not
            GTC/FOK/IOC.
    """
    types = dict(DEFAULT_ORDER_TYPES) if order_types is None else _mapping(order_types, where)
    missing = [k for k in REQUIRED_ORDER_TYPES if k not in types]
    if missing:
        raise ConfigError(
            f"{where}: incomplete, missing {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_ORDER_TYPES)})"
        )
    values: dict[str, str] = {}
    for key in ORDER_TYPE_KEYS:
        if key in types:
            value = str(types[key]).lower()
            if value not in ("limit", "market"):
                raise ConfigError(
                    f'{where}.{key}: expected "limit" or "market", got {types[key]!r}'
                )
            values[key] = value
    interval = types.get("stoploss_on_exchange_interval", 60)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise ConfigError(
            f"{where}.stoploss_on_exchange_interval: expected seconds > 0, got {interval!r}"
        )
    ratio = types.get("stoploss_on_exchange_limit_ratio", 0.99)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 1:
        raise ConfigError(
            f"{where}.stoploss_on_exchange_limit_ratio: expected a ratio above 0 and below 1 "
            f"(the limit sits below the stop), got {ratio!r}"
        )
    price_type = types.get("stoploss_price_type", "last")
    if str(price_type).lower() not in PRICE_TYPES:
        raise ConfigError(
            f"{where}.stoploss_price_type: expected one of {', '.join(PRICE_TYPES)}, "
            f"got {price_type!r}"
        )
    tif_where = "order_time_in_force"
    tif = (
        dict(DEFAULT_TIME_IN_FORCE) if time_in_force is None else _mapping(time_in_force, tif_where)
    )
    for key in ("entry", "exit"):
        value = str(tif.get(key, "GTC")).upper()
        if value not in TIME_IN_FORCE:
            raise ConfigError(
                f"{tif_where}.{key}: expected one of {', '.join(TIME_IN_FORCE)}, got {tif.get(key)!r}"
            )
        tif[key] = value
    return OrderPlan(
        entry=values["entry"],
        exit=values["exit"],
        stoploss=values["stoploss"],
        emergency_exit=values.get("emergency_exit", "market"),
        force_entry=values.get("force_entry", values["entry"]),
        force_exit=values.get("force_exit", values["exit"]),
        entry_time_in_force=tif["entry"],
        exit_time_in_force=tif["exit"],
        stoploss_on_exchange=bool(types.get("stoploss_on_exchange")),
        stoploss_on_exchange_interval=float(interval),
        stoploss_on_exchange_limit_ratio=float(ratio),
    )


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a dict, got {type(value).__name__}")
    return dict(value)
