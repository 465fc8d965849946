"""order_types and order_time_in_force: freqtrade's keys, checked at start in one line."""

from __future__ import annotations

import pytest

from candlecast.bot.ordertypes import OrderPlan, resolve_order_plan
from candlecast.exceptions import ConfigError

COMPLETE = {"entry": "limit", "exit": "market", "stoploss": "market", "stoploss_on_exchange": False}


def test_defaults_are_freqtrades_limit_orders_good_till_cancelled():
    assert resolve_order_plan(None, None) == OrderPlan()


def test_stop_exits_place_the_stoploss_type_and_other_exits_the_exit_type():
    plan = resolve_order_plan(
        {**COMPLETE, "emergency_exit": "limit", "exit": "LIMIT"}, {"entry": "ioc", "exit": "FOK"}
    )
    assert plan.for_exit("stop_loss") == plan.for_exit("trailing_stop_loss") == "market"
    assert plan.for_exit("roi") == plan.for_exit("exit_signal") == "limit"
    assert (plan.emergency_exit, plan.force_entry, plan.force_exit) == ("limit", "limit", "limit")
    assert (plan.entry_time_in_force, plan.exit_time_in_force) == ("IOC", "FOK")


@pytest.mark.parametrize(
    ("order_types", "time_in_force", "message"),
    [
        (
            {"entry": "limit", "exit": "limit"},
            None,
            "order_types: incomplete, missing stoploss, stoploss_on_exchange",
        ),
        ({**COMPLETE, "entry": "stop"}, None, 'order_types.entry: expected "limit" or "market"'),
        (
            {**COMPLETE, "stoploss_on_exchange": True, "stoploss_on_exchange_limit_ratio": 1.0},
            None,
            "order_types.stoploss_on_exchange_limit_ratio: expected a ratio above 0 and below 1",
        ),
        (
            {**COMPLETE, "stoploss_price_type": "median"},
            None,
            "order_types.stoploss_price_type: expected one of last, mark, index, got 'median'",
        ),
        (
            {**COMPLETE, "stoploss_on_exchange_interval": 0},
            None,
            "stoploss_on_exchange_interval: expected seconds > 0",
        ),
        (
            None,
            {"entry": "PO", "exit": "GTC"},
            "order_time_in_force.entry: expected one of GTC, FOK, IOC, got 'PO'",
        ),
        ("limit", None, "order_types: expected a dict, got str"),
    ],
)
def test_what_cannot_be_placed_is_refused_at_start_in_one_line(
    order_types: object, time_in_force: object, message: str
):
    with pytest.raises(ConfigError) as info:
        resolve_order_plan(order_types, time_in_force)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unfilledtimeout_keys_are_freqtrades():
    from candlecast.config import validate_config

    config = validate_config({"unfilledtimeout": {"entry": 90, "exit": 2, "unit": "seconds"}})
    assert (config.unfilledtimeout.seconds("entry"), config.unfilledtimeout.seconds("exit")) == (
        90,
        2,
    )
    assert validate_config({}).unfilledtimeout.seconds("entry") == 600
    counted = validate_config({"unfilledtimeout": {"entry": 1, "exit": 1, "exit_timeout_count": 3}})
    assert counted.unfilledtimeout.exit_timeout_count == 3
    with pytest.raises(ConfigError, match=r"^unfilledtimeout\.exit_timeout_count"):
        validate_config({"unfilledtimeout": {"exit_timeout_count": -1}})


def test_stoploss_on_exchange_settings_are_read_with_freqtrades_defaults():
    plan = resolve_order_plan({**COMPLETE, "stoploss_on_exchange": True}, None)
    assert (plan.stoploss_on_exchange, plan.stoploss_on_exchange_interval) == (True, 60.0)
    assert plan.stoploss_on_exchange_limit_ratio == 0.99
    plan = resolve_order_plan(
        {
            **COMPLETE,
            "stoploss_on_exchange": True,
            "stoploss_on_exchange_interval": 30,
            "stoploss_on_exchange_limit_ratio": 0.95,
            "stoploss_price_type": "mark",  # futures only: read, and changes nothing on spot
        },
        None,
    )
    assert (plan.stoploss_on_exchange_interval, plan.stoploss_on_exchange_limit_ratio) == (30, 0.95)
    assert not resolve_order_plan(COMPLETE, None).stoploss_on_exchange


def test_an_emergency_exit_places_the_emergency_exit_type():
    plan = resolve_order_plan({**COMPLETE, "exit": "limit", "emergency_exit": "market"}, None)
    assert (plan.for_exit("emergency_exit"), plan.for_exit("roi")) == ("market", "limit")


def test_the_effective_order_types_are_shown_as_freqtrade_shows_them():
    plan = resolve_order_plan(
        {
            "entry": "market",
            "exit": "limit",
            "stoploss": "market",
            "stoploss_on_exchange": True,
            "stoploss_on_exchange_interval": 30,
        },
        None,
    )
    assert plan.as_order_types() == {
        "entry": "market",
        "exit": "limit",
        "emergency_exit": "market",
        "force_entry": "market",  # unset: the entry's type
        "force_exit": "limit",  # unset: the exit's type
        "stoploss": "market",
        "stoploss_on_exchange": True,
        "stoploss_on_exchange_interval": 30,
    }
