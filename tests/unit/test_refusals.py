"""Nothing a strategy or config asks for is silently ignored: unsupported features stop the start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from candlecast.config.loader import load_config
from candlecast.domain.features import FEATURES, config_requests, strategy_requests
from candlecast.exceptions import ConfigError, StrategyError
from candlecast.strategy import IStrategy
from candlecast.strategy.loader import load_strategy
from candlecast.strategy.support import check_supported

BASE = """
from freqtrade.strategy import IStrategy
from freqtrade.persistence import Trade


class Asks(IStrategy):
    timeframe = "5m"
    stoploss = -0.1
{extra}
    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        return dataframe
"""

# what a freqtrade strategy writes -> the feature it asks for
STRATEGY_CASES = {
    "can_short": "    can_short = True\n",
    "custom_sell": "    def custom_sell(self, pair, trade, current_time, current_rate, current_profit, **kwargs):\n        return None\n",
    "sell_profit_only": "    sell_profit_only = True\n",
    "use_sell_signal": "    use_sell_signal = False\n",
    "ignore_roi_if_buy_signal": "    ignore_roi_if_buy_signal = True\n",
}

# what candlecast honours (issue 15): accepted, and acted on as freqtrade does
HONOURED_CASES = {
    "trailing_stop": "    trailing_stop = True\n",
    "trailing_stop_positive": "    trailing_stop_positive = 0.01\n",
    "use_custom_stoploss": "    use_custom_stoploss = True\n",
    "custom_stoploss": "    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, **kwargs):\n        return -0.05\n",
    "custom_exit": "    def custom_exit(self, pair, trade: Trade, current_time, current_rate, current_profit, **kwargs):\n        return None\n",
    "custom_entry_price": "    def custom_entry_price(self, pair, trade, current_time, proposed_rate, entry_tag, side, **kwargs):\n        return proposed_rate\n",
    "custom_exit_price": "    def custom_exit_price(self, pair, trade, current_time, proposed_rate, current_profit, exit_tag, **kwargs):\n        return proposed_rate\n",
    "confirm_trade_entry": "    def confirm_trade_entry(self, pair, order_type, amount, rate, time_in_force, current_time, entry_tag, side, **kwargs):\n        return True\n",
    "confirm_trade_exit": "    def confirm_trade_exit(self, pair, trade, order_type, amount, rate, time_in_force, exit_reason, current_time, **kwargs):\n        return True\n",
    "custom_stake_amount": "    def custom_stake_amount(self, pair, current_time, current_rate, proposed_stake, min_stake, max_stake, leverage, entry_tag, side, **kwargs):\n        return proposed_stake\n",
    "position_adjustment_enable": "    position_adjustment_enable = True\n",
    "adjust_trade_position": "    def adjust_trade_position(self, trade, current_time, current_rate, current_profit, min_stake, max_stake, **kwargs):\n        return None\n",
    "exit_profit_only": "    exit_profit_only = True\n",
    "ignore_roi_if_entry_signal": "    ignore_roi_if_entry_signal = True\n",
    "use_exit_signal": "    use_exit_signal = False\n",
    "order_types": "    order_types = {'entry': 'market', 'exit': 'market', 'stoploss': 'market', 'stoploss_on_exchange': False}\n",
    "stoploss_on_exchange": "    order_types = {'entry': 'limit', 'exit': 'limit', 'stoploss': 'limit', 'stoploss_on_exchange': True, 'stoploss_on_exchange_interval': 60}\n",
    "check_entry_timeout": "    def check_entry_timeout(self, pair, trade, order, current_time, **kwargs):\n        return False\n",
    "check_exit_timeout": "    def check_exit_timeout(self, pair, trade, order, current_time, **kwargs):\n        return False\n",
    "order_filled": "    def order_filled(self, pair, trade, order, current_time, **kwargs):\n        return None\n",
    "adjust_entry_price": "    def adjust_entry_price(self, trade, order, pair, current_time, proposed_rate, current_order_rate, entry_tag, side, **kwargs):\n        return current_order_rate\n",
    "adjust_exit_price": "    def adjust_exit_price(self, trade, order, pair, current_time, proposed_rate, current_order_rate, entry_tag, side, **kwargs):\n        return current_order_rate\n",
    "adjust_order_price": "    def adjust_order_price(self, trade, order, pair, current_time, proposed_rate, current_order_rate, entry_tag, side, is_entry, **kwargs):\n        return current_order_rate\n",
    "order_time_in_force": "    order_time_in_force = {'entry': 'IOC', 'exit': 'GTC'}\n",
    "protections": "    @property\n    def protections(self):\n        return [{'method': 'CooldownPeriod', 'stop_duration_candles': 5}]\n",
}


@pytest.mark.parametrize("case", sorted(STRATEGY_CASES))
def test_a_strategy_asking_for_an_unsupported_feature_is_refused_in_one_line(
    tmp_path: Path, case: str
):
    (tmp_path / "Asks.py").write_text(BASE.format(extra=STRATEGY_CASES[case]))
    strategy = load_strategy("Asks", tmp_path)
    with pytest.raises(StrategyError) as info:
        check_supported(strategy)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "Asks.py") in message
    assert f"({case})" in message


@pytest.mark.parametrize("case", sorted(HONOURED_CASES))
def test_a_strategy_using_an_honoured_feature_starts(tmp_path: Path, case: str):
    (tmp_path / "Asks.py").write_text(BASE.format(extra=HONOURED_CASES[case]))
    check_supported(load_strategy("Asks", tmp_path))


def test_what_candlecast_does_is_not_refused(tmp_path: Path):
    extra = (
        "    trailing_stop = False\n"
        "    use_exit_signal = False\n"  # the bot honours it
        "    order_types = {'entry': 'limit', 'exit': 'limit', 'stoploss': 'market',"
        " 'stoploss_on_exchange': False}\n"
        "    order_time_in_force = {'entry': 'GTC', 'exit': 'GTC'}\n"
        "    def informative_pairs(self):\n        return []\n"
    )
    (tmp_path / "Asks.py").write_text(BASE.format(extra=extra))
    check_supported(load_strategy("Asks", tmp_path))


def test_settings_freqtrade_ignores_without_their_switch_are_not_refused(tmp_path: Path):
    # as in freqtrade: trailing_stop_* need trailing_stop, custom_stoploss needs
    # use_custom_stoploss, adjust_trade_position needs position_adjustment_enable
    extra = (
        "    trailing_stop = False\n"
        "    trailing_stop_positive = 0.02\n"
        "    trailing_stop_positive_offset = 0.04\n"
        "    use_custom_stoploss = False\n"
        "    exit_profit_offset = 0.01\n"
        "    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, **kwargs):\n"
        "        return -0.05\n"
        "    def adjust_trade_position(self, trade, current_time, **kwargs):\n"
        "        return None\n"
    )
    (tmp_path / "Asks.py").write_text(BASE.format(extra=extra))
    check_supported(load_strategy("Asks", tmp_path))


def test_an_honoured_feature_is_no_longer_refused(monkeypatch: pytest.MonkeyPatch):
    class Short(IStrategy):
        stoploss = -0.1
        can_short = True

        def populate_indicators(self, dataframe, metadata):
            return dataframe

    assert [f for f, _ in strategy_requests(Short(), IStrategy)] == ["can_short (short trades)"]
    import candlecast.domain.features as features

    honoured = tuple(
        type(f)(f.name, f.detect, honoured=f.honoured or f.name.startswith("can_short"))
        for f in FEATURES
    )
    monkeypatch.setattr(features, "FEATURES", honoured)
    assert strategy_requests(Short(), IStrategy) == []


CONFIG_CASES = {
    "trading_mode": {"trading_mode": "futures", "margin_mode": "isolated"},
    "entry_pricing": {"entry_pricing": {"price_side": "same", "use_order_book": True}},
    "exit_pricing": {"exit_pricing": {"price_side": "other", "price_last_balance": 0.5}},
    "use_sell_signal": {"use_sell_signal": False},
    "process_only_new_candles": {"process_only_new_candles": False},
    "tradable_balance_ratio": {"tradable_balance_ratio": 0.5},
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_a_config_key_that_would_change_a_trading_decision_is_refused(tmp_path: Path, case: str):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG_CASES[case]))
    with pytest.raises(ConfigError) as info:
        load_config([path], environ={})
    assert any(line.startswith(f"{case}:") and str(path) in line for line in info.value.problems)


def test_config_keys_that_change_nothing_pass_and_only_unknown_ones_warn(tmp_path: Path, caplog):
    path = tmp_path / "config.json"
    neutral = {
        "trading_mode": "spot",
        "trailing_stop": False,
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "bid"},
        "order_types": {
            "entry": "limit",
            "exit": "limit",
            "stoploss": "limit",
            "stoploss_on_exchange": True,  # honoured (bot/stoporders.py)
        },
        "fiat_display_currency": "USD",
    }
    path.write_text(json.dumps(neutral))
    assert config_requests(neutral) == []
    load_config([path], environ={})
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "'fiat_display_currency'" in warned[0]


def test_a_strategys_max_open_trades_is_refused_unless_the_config_sets_its_own(tmp_path: Path):
    from candlecast.bot.runtime import apply_strategy_overrides
    from candlecast.config import validate_config

    (tmp_path / "Asks.py").write_text(BASE.format(extra="    max_open_trades = 5\n"))
    strategy = load_strategy("Asks", tmp_path)
    apply_strategy_overrides(validate_config({}), strategy)
    with pytest.raises(StrategyError, match=r"max_open_trades"):
        check_supported(strategy)
    apply_strategy_overrides(validate_config({"max_open_trades": 2}), strategy)
    check_supported(strategy)
