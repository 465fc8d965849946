"""What a freqtrade strategy or config can ask for, and whether candlecast does it yet.

``FEATURES`` is the one list: a feature's name, how to tell that a strategy or config asks
for it, and ``honoured``. A feature that is asked for but not honoured stops the start
with one line naming it and the file (never silently ignored). When candlecast learns a
feature, set ``honoured=True`` (or delete the entry).

How a feature is detected:

- ``Setting(name, asks)``: a strategy attribute and the config key of the same name
  (freqtrade lets the config override the strategy); ``asks(value)`` says whether the
  value asks for the feature (``trailing_stop = True`` does, ``False`` does not).
- ``Callback(name)``: a strategy method overridden from ``IStrategy``'s default.
- ``ConfigKey(path, asks)``: a config key only (``"exchange.x"`` for nested keys).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    asks: Callable[[Any], bool]
    in_config: bool = True  # False: a strategy attribute only


@dataclass(frozen=True)
class Callback:
    name: str


@dataclass(frozen=True)
class ConfigKey:
    path: str
    asks: Callable[[Any], bool]


@dataclass(frozen=True)
class Feature:
    name: str
    detect: tuple[Setting | Callback | ConfigKey, ...]
    honoured: bool = False


def _truthy(value: Any) -> bool:
    return bool(value)


def _false(value: Any) -> bool:
    return value is False


def _nonzero(value: Any) -> bool:
    return value not in (None, 0, 0.0, False)


def _order_types(value: Any) -> bool:
    """Whether ``order_types`` asks for the stop to be placed on the exchange."""
    if not isinstance(value, Mapping):
        return value is not None
    return bool(value.get("stoploss_on_exchange", False))


def _time_in_force(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return value is not None
    return any(str(v).upper() != "GTC" for v in value.values())


def _pricing(entry: bool) -> Callable[[Any], bool]:
    # candlecast buys at the ask and sells at the bid of the ticker (the top of the book):
    # freqtrade's price_side "other", or "ask" for entries and "bid" for exits.
    own_side = "ask" if entry else "bid"

    def asks(value: Any) -> bool:
        if not isinstance(value, Mapping):
            return value is not None
        depth = value.get("check_depth_of_market") or {}
        return (
            value.get("price_side", "same") not in ("other", own_side)
            or (bool(value.get("use_order_book")) and int(value.get("order_book_top", 1)) != 1)
            or _nonzero(value.get("price_last_balance", 0.0))
            or bool(isinstance(depth, Mapping) and depth.get("enabled"))
        )

    return asks


def _not_spot(value: Any) -> bool:
    return str(value or "spot").lower() != "spot"


def _protections(value: Any) -> bool:
    return bool(value) and not isinstance(value, property)


FEATURES: tuple[Feature, ...] = (
    # freqtrade reads trailing_stop_positive/_offset/only_offset_is_reached only when
    # trailing_stop is on, so a strategy that sets them with trailing_stop = False asks nothing
    Feature("trailing_stop", (Setting("trailing_stop", _truthy),), honoured=True),
    # custom_stoploss() is called only with use_custom_stoploss = True (as in freqtrade)
    Feature("custom_stoploss", (Setting("use_custom_stoploss", _truthy),), honoured=True),
    Feature("custom_exit", (Callback("custom_exit"),), honoured=True),
    Feature("custom_entry_price", (Callback("custom_entry_price"),), honoured=True),
    Feature("custom_exit_price", (Callback("custom_exit_price"),), honoured=True),
    Feature("confirm_trade_entry", (Callback("confirm_trade_entry"),), honoured=True),
    Feature("confirm_trade_exit", (Callback("confirm_trade_exit"),), honoured=True),
    Feature("custom_stake_amount", (Callback("custom_stake_amount"),), honoured=True),
    # adjust_trade_position() is called only with position_adjustment_enable = True
    Feature(
        "position adjustment", (Setting("position_adjustment_enable", _truthy),), honoured=True
    ),
    # the bot reads the interface-3 names only; the old ones would be silently ignored
    Feature(
        "interface-version-2 exit names (custom_sell, sell_profit_only, use_sell_signal, "
        "ignore_roi_if_buy_signal): use custom_exit, exit_profit_only, use_exit_signal, "
        "ignore_roi_if_entry_signal",
        (
            Callback("custom_sell"),
            Setting("sell_profit_only", _truthy),
            Setting("sell_profit_offset", _nonzero),
            Setting("use_sell_signal", _false),
            Setting("ignore_roi_if_buy_signal", _truthy),
        ),
    ),
    # asked each poll about an order still open within unfilledtimeout (bot/trading.py)
    Feature(
        "order timeouts callbacks",
        (Callback("check_entry_timeout"), Callback("check_exit_timeout")),
        honoured=True,
    ),
    # asked about open orders once a candle closed after them (bot/trading.py)
    Feature(
        "order price adjustment",
        (
            Callback("adjust_entry_price"),
            Callback("adjust_exit_price"),
            Callback("adjust_order_price"),
        ),
        honoured=True,
    ),
    # custom_roi() is called only with use_custom_roi = True
    Feature("custom_roi", (Setting("use_custom_roi", _truthy),)),
    Feature("order_filled callback", (Callback("order_filled"),), honoured=True),
    Feature(
        "FreqAI",
        (
            ConfigKey(
                "freqai", lambda v: bool(v.get("enabled")) if isinstance(v, Mapping) else bool(v)
            ),
            Callback("feature_engineering_expand_all"),
            Callback("feature_engineering_expand_basic"),
            Callback("feature_engineering_standard"),
            Callback("set_freqai_targets"),
        ),
    ),
    # the bot reads max_open_trades from the config; a strategy's own value would be ignored
    Feature(
        "max_open_trades in the strategy (set it in the config)",
        (Setting("max_open_trades", lambda v: v is not None, in_config=False),),
    ),
    Feature("protections", (Setting("protections", _protections),), honoured=True),
    # a config value overrides the strategy's for these (config.models.STRATEGY_OVERRIDES)
    Feature(
        "exit_profit_only",
        (Setting("exit_profit_only", _truthy), Setting("exit_profit_offset", _nonzero)),
        honoured=True,
    ),
    Feature(
        "ignore_roi_if_entry_signal",
        (Setting("ignore_roi_if_entry_signal", _truthy),),
        honoured=True,
    ),
    Feature("use_exit_signal = False", (Setting("use_exit_signal", _false),), honoured=True),
    Feature(
        "process_only_new_candles in the config (set it in the strategy)",
        (ConfigKey("process_only_new_candles", lambda v: v is not None),),
    ),
    Feature(
        "ignore_buying_expired_candle_after",
        (Setting("ignore_buying_expired_candle_after", _nonzero),),
        honoured=True,
    ),
    # placed on the exchange where it can hold stop orders, else refused at start
    # (bot/stoporders.py, Exchange.stop_order_problem)
    Feature(
        "order_types.stoploss_on_exchange",
        (Setting("order_types", _order_types),),
        honoured=True,
    ),
    # GTC, FOK and IOC are placed as asked; anything else stops the start (bot/ordertypes.py)
    Feature(
        "order_time_in_force other than GTC",
        (Setting("order_time_in_force", _time_in_force),),
        honoured=True,
    ),
    Feature("can_short (short trades)", (Setting("can_short", _truthy),)),
    # leverage() is only consulted in futures/margin mode, which this entry refuses
    Feature(
        "trading_mode futures/margin (leverage, shorts)",
        (ConfigKey("trading_mode", _not_spot), ConfigKey("margin_mode", _truthy)),
    ),
    Feature(
        "entry_pricing other than the ask", (ConfigKey("entry_pricing", _pricing(entry=True)),)
    ),
    Feature("exit_pricing other than the bid", (ConfigKey("exit_pricing", _pricing(entry=False)),)),
    Feature(
        "stake sizing options (tradable_balance_ratio, available_capital, amend_last_stake_amount)",
        (
            ConfigKey("tradable_balance_ratio", lambda v: v not in (None, 1, 1.0)),
            ConfigKey("available_capital", lambda v: v is not None),
            ConfigKey("amend_last_stake_amount", _truthy),
        ),
    ),
)


def _config_value(config: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def config_requests(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(feature, key)`` for each unhonoured feature a raw config asks for."""
    found: list[tuple[str, str]] = []
    for feature in FEATURES:
        if feature.honoured:
            continue
        for how in feature.detect:
            if isinstance(how, Callback) or (isinstance(how, Setting) and not how.in_config):
                continue
            path = how.name if isinstance(how, Setting) else how.path
            present, value = _config_value(config, path)
            if present and how.asks(value):
                found.append((feature.name, path))
                break
    return found


def strategy_requests(strategy: object, base: type) -> list[tuple[str, str]]:
    """``(feature, attribute)`` for each unhonoured feature ``strategy`` asks for.

    ``base`` is the strategy interface whose methods count as "not overridden".
    """
    klass = strategy if isinstance(strategy, type) else type(strategy)
    found: list[tuple[str, str]] = []
    for feature in FEATURES:
        if feature.honoured:
            continue
        for how in feature.detect:
            if isinstance(how, Setting):
                if how.asks(getattr(strategy, how.name, None)):
                    found.append((feature.name, how.name))
                    break
            elif isinstance(how, Callback):
                mine = getattr(klass, how.name, None)
                if mine is not None and mine is not getattr(base, how.name, None):
                    found.append((feature.name, how.name))
                    break
    return found


def config_keys() -> frozenset[str]:
    """Every top-level config key the table looks at (so it is not reported as unknown)."""
    keys: set[str] = set()
    for feature in FEATURES:
        for how in feature.detect:
            if isinstance(how, Setting) and how.in_config:
                keys.add(how.name)
            elif isinstance(how, ConfigKey):
                keys.add(how.path.split(".")[0])
    return frozenset(keys)
