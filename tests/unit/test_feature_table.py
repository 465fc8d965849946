"""The feature table (domain/features.py): which values ask for a feature, and what is reported.

test_refusals.py checks the start-up refusals end to end (a strategy file, a config
file); this file checks the table's rules value by value, without files.
"""

from __future__ import annotations

from typing import Any

import pytest

import candlecast.domain.features as features
from candlecast.domain.features import (
    FEATURES,
    Callback,
    ConfigKey,
    Feature,
    Setting,
    config_keys,
    config_requests,
    strategy_requests,
)
from candlecast.strategy import IStrategy

ENTRY = "entry_pricing other than the ask"
EXIT = "exit_pricing other than the bid"
FUTURES = "trading_mode futures/margin (leverage, shorts)"
STAKE = "stake sizing options (tradable_balance_ratio, available_capital, amend_last_stake_amount)"
OLD_NAMES = next(f.name for f in FEATURES if f.name.startswith("interface-version-2"))


def asks(key: str, value: Any) -> bool:
    """Whether the table says config key (or strategy setting) ``key`` = ``value`` asks for
    its feature, honoured or not."""
    for feature in FEATURES:
        for how in feature.detect:
            name = how.path if isinstance(how, ConfigKey) else getattr(how, "name", None)
            if name == key and not isinstance(how, Callback):
                return how.asks(value)
    raise KeyError(key)


# (config, what config_requests reports); every case differs from a neighbour by one value
CONFIGS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "empty": ({}, []),
    "entry at the ask": ({"entry_pricing": {"price_side": "ask"}}, []),
    "entry at the other side": ({"entry_pricing": {"price_side": "other"}}, []),
    "entry at the bid": ({"entry_pricing": {"price_side": "bid"}}, [(ENTRY, "entry_pricing")]),
    "entry side defaults to same": ({"entry_pricing": {}}, [(ENTRY, "entry_pricing")]),
    "exit at the bid": ({"exit_pricing": {"price_side": "bid"}}, []),
    "exit at the ask": ({"exit_pricing": {"price_side": "ask"}}, [(EXIT, "exit_pricing")]),
    "pricing not a mapping": ({"exit_pricing": "bid"}, [(EXIT, "exit_pricing")]),
    "pricing null": ({"exit_pricing": None}, []),
    "order book top 1": (
        {"exit_pricing": {"price_side": "bid", "use_order_book": True, "order_book_top": 1}},
        [],
    ),
    "order book top defaults to 1": (
        {"exit_pricing": {"price_side": "bid", "use_order_book": True}},
        [],
    ),
    "order book top 2": (
        {"exit_pricing": {"price_side": "bid", "use_order_book": True, "order_book_top": 2}},
        [(EXIT, "exit_pricing")],
    ),
    "order book top 2 unused": (
        {"exit_pricing": {"price_side": "bid", "use_order_book": False, "order_book_top": 2}},
        [],
    ),
    "last balance": (
        {"entry_pricing": {"price_side": "ask", "price_last_balance": 0.5}},
        [(ENTRY, "entry_pricing")],
    ),
    "last balance zero": ({"entry_pricing": {"price_side": "ask", "price_last_balance": 0}}, []),
    "depth of market on": (
        {"entry_pricing": {"price_side": "ask", "check_depth_of_market": {"enabled": True}}},
        [(ENTRY, "entry_pricing")],
    ),
    "depth of market off": (
        {"entry_pricing": {"price_side": "ask", "check_depth_of_market": {"enabled": False}}},
        [],
    ),
    "depth of market null": (
        {"entry_pricing": {"price_side": "ask", "check_depth_of_market": None}},
        [],
    ),
    "spot": ({"trading_mode": "spot"}, []),
    "spot in capitals": ({"trading_mode": "SPOT"}, []),
    "trading mode null": ({"trading_mode": None}, []),
    "futures": ({"trading_mode": "futures"}, [(FUTURES, "trading_mode")]),
    "margin mode alone": ({"margin_mode": "isolated"}, [(FUTURES, "margin_mode")]),
    "margin mode empty": ({"margin_mode": ""}, []),
    # one line per feature, naming the first key that asks for it
    "futures and margin mode": (
        {"trading_mode": "futures", "margin_mode": "isolated"},
        [(FUTURES, "trading_mode")],
    ),
    "whole balance": ({"tradable_balance_ratio": 1.0}, []),
    "part of the balance": ({"tradable_balance_ratio": 0.99}, [(STAKE, "tradable_balance_ratio")]),
    "available capital": ({"available_capital": 1000}, [(STAKE, "available_capital")]),
    "available capital null": ({"available_capital": None}, []),
    "amend last stake": ({"amend_last_stake_amount": True}, [(STAKE, "amend_last_stake_amount")]),
    "amend last stake off": ({"amend_last_stake_amount": False}, []),
    "freqai enabled": ({"freqai": {"enabled": True}}, [("FreqAI", "freqai")]),
    "freqai disabled": ({"freqai": {"enabled": False}}, []),
    "freqai as a flag": ({"freqai": True}, [("FreqAI", "freqai")]),
    "process_only_new_candles": (
        {"process_only_new_candles": True},
        [
            (
                "process_only_new_candles in the config (set it in the strategy)",
                "process_only_new_candles",
            )
        ],
    ),
    # a strategy setting given in the config asks as it would in the strategy
    "can_short in the config": ({"can_short": True}, [("can_short (short trades)", "can_short")]),
    "use_custom_roi in the config": ({"use_custom_roi": True}, [("custom_roi", "use_custom_roi")]),
    "old names": ({"use_sell_signal": False}, [(OLD_NAMES, "use_sell_signal")]),
    "old names asking nothing": (
        {"use_sell_signal": True, "sell_profit_offset": 0.0, "sell_profit_only": False},
        [],
    ),
    "old offset": ({"sell_profit_offset": 0.01}, [(OLD_NAMES, "sell_profit_offset")]),
    # strategy-only settings and honoured features are not config refusals
    "max_open_trades": ({"max_open_trades": 3}, []),
    "honoured settings": ({"trailing_stop": True, "use_exit_signal": False}, []),
    "in table order": (
        {"tradable_balance_ratio": 0.5, "trading_mode": "margin", "freqai": {"enabled": True}},
        [("FreqAI", "freqai"), (FUTURES, "trading_mode"), (STAKE, "tradable_balance_ratio")],
    ),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_config_requests_name_each_feature_a_config_asks_for_once(case: str):
    config, expected = CONFIGS[case]
    assert config_requests(config) == expected


def test_a_nested_config_key_is_found_by_its_dotted_path(monkeypatch: pytest.MonkeyPatch):
    nested = Feature("nested", (ConfigKey("exchange.x.y", lambda v: v == "on"),))
    monkeypatch.setattr(features, "FEATURES", (nested,))
    assert config_requests({"exchange": {"x": {"y": "on"}}}) == [("nested", "exchange.x.y")]
    assert config_requests({"exchange": {"x": {"y": "off"}}}) == []
    assert config_requests({"exchange": {"x": "on"}}) == []  # not a mapping on the way
    assert config_requests({"exchange": {"z": {"y": "on"}}}) == []
    assert config_requests({"x": {"y": "on"}}) == []
    assert config_keys() == {"exchange"}


def test_a_key_the_config_lacks_asks_nothing_whatever_its_rule(monkeypatch: pytest.MonkeyPatch):
    always = Feature("always", (ConfigKey("anything", lambda v: True),))
    monkeypatch.setattr(features, "FEATURES", (always,))
    assert config_requests({}) == []
    assert config_requests({"anything": None}) == [("always", "anything")]


def test_config_keys_are_the_top_level_keys_the_table_reads():
    keys = config_keys()
    # settings a config may override, config-only keys, honoured or not
    for key in ("can_short", "trailing_stop", "order_types", "entry_pricing", "margin_mode"):
        assert key in keys
    assert "max_open_trades" not in keys  # read by the table from strategies only
    assert "custom_exit" not in keys  # a callback


# the predicates of honoured features: what would be refused were they not honoured
@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("order_types", {"stoploss_on_exchange": True}, True),
        ("order_types", {"stoploss_on_exchange": False}, False),
        ("order_types", {"entry": "limit"}, False),
        ("order_types", None, False),
        ("order_types", "market", True),
        ("order_time_in_force", {"entry": "GTC", "exit": "gtc"}, False),
        ("order_time_in_force", {"entry": "GTC", "exit": "IOC"}, True),
        ("order_time_in_force", None, False),
        ("order_time_in_force", "GTC", True),
        ("protections", [{"method": "CooldownPeriod"}], True),
        ("protections", [], False),
        ("protections", property(lambda self: []), False),
        ("use_exit_signal", False, True),
        ("use_exit_signal", None, False),
        ("exit_profit_offset", 0.0, False),
        ("exit_profit_offset", None, False),
        ("exit_profit_offset", 0.01, True),
        ("ignore_buying_expired_candle_after", 0, False),
        ("ignore_buying_expired_candle_after", 60, True),
        ("ignore_buying_expired_candle_after", 1, True),
        ("exit_profit_offset", 1.0, True),
        ("exit_profit_offset", False, False),
        ("tradable_balance_ratio", 1, False),
        ("tradable_balance_ratio", None, False),
        ("max_open_trades", None, False),
        ("max_open_trades", 0, True),
        ("process_only_new_candles", None, False),
        ("process_only_new_candles", False, True),
        ("freqai", {}, False),
        ("freqai", False, False),
    ],
)
def test_what_each_setting_value_asks_for(key: str, value: Any, expected: bool):
    assert asks(key, value) is expected


def test_the_pricing_rules_of_entries_and_exits_mirror_each_other():
    assert asks("entry_pricing", {"price_side": "ask"}) is False
    assert asks("exit_pricing", {"price_side": "ask"}) is True
    assert asks("entry_pricing", {"price_side": "bid"}) is True
    assert asks("exit_pricing", {"price_side": "bid"}) is False
    assert asks("entry_pricing", {"price_side": "other", "check_depth_of_market": True}) is False


class Plain(IStrategy):
    stoploss = -0.1

    def populate_indicators(self, dataframe, metadata):
        return dataframe


class Asking(Plain):
    can_short = True
    max_open_trades = 3
    use_custom_roi = True
    sell_profit_only = False
    sell_profit_offset = 0.01  # the second detector of the old names asks

    def custom_sell(self, *args, **kwargs):  # the first one too: reported once
        return None

    def set_freqai_targets(self, dataframe, metadata, **kwargs):  # the last FreqAI detector
        return dataframe

    def custom_exit(self, *args, **kwargs):  # honoured
        return None


def test_strategy_requests_name_each_unhonoured_feature_once_in_table_order():
    expected = [
        (OLD_NAMES, "custom_sell"),
        ("custom_roi", "use_custom_roi"),
        ("FreqAI", "set_freqai_targets"),
        ("max_open_trades in the strategy (set it in the config)", "max_open_trades"),
        ("can_short (short trades)", "can_short"),
    ]
    assert strategy_requests(Asking(), IStrategy) == expected
    assert strategy_requests(Asking, IStrategy) == expected  # the class says the same


def test_a_strategy_that_overrides_nothing_asks_for_nothing():
    assert strategy_requests(Plain(), IStrategy) == []
    assert strategy_requests(Plain, IStrategy) == []


def test_a_callback_counts_only_when_overridden_from_the_given_base():
    class Base(Plain):
        def custom_sell(self, *args, **kwargs):
            return None

    class Child(Base):
        pass

    assert strategy_requests(Child(), Base) == []
    assert strategy_requests(Child(), IStrategy) == [(OLD_NAMES, "custom_sell")]


def test_a_setting_a_strategy_lacks_asks_nothing(monkeypatch: pytest.MonkeyPatch):
    # getattr's default for a missing attribute reaches the predicate as None
    seen: list[Any] = []
    probe = Feature("probe", (Setting("no_such_setting", lambda v: seen.append(v) or False),))
    monkeypatch.setattr(features, "FEATURES", (probe,))
    assert strategy_requests(Plain(), IStrategy) == []
    assert seen == [None]
