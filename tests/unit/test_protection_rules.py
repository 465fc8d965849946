"""Protections' defaults, sides, lock times and the strategy's lock API, as specifications.

Written from mutation testing (docs/reliability.md, "Mutation testing"): each test pins a
rule of :mod:`candlecast.bot.protections` or :mod:`candlecast.domain.locks` that
test_protections.py passes through without checking it exactly.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from candlecast.bot.protections import MemoryLockStore, parse_protections
from candlecast.bot.protections.manager import StrategyLocks
from candlecast.bot.protections.rules import equity_drawdown, ratio_drawdown
from candlecast.domain.locks import PairLock, in_force, is_pair_locked
from candlecast.exceptions import ConfigError
from tests.unit.test_protections import at, closed, manager, summary

T0 = at(0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.when = now

    def now(self) -> datetime:
        return self.when


class Release:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def release(self, now: datetime, pair: str | None = None) -> None:
        self.calls.append(("pair", now, pair))

    def release_reason(self, now: datetime, reason: str) -> None:
        self.calls.append(("reason", now, reason))


def stops(n: int, pair: str = "BTC/USDT", first: float = 1, profit: float = -0.05) -> list:
    return [closed(pair, first + i, profit) for i in range(n)]


# ---------------------------------------------------------------------- defaults


def test_stoploss_guard_defaults_to_ten_stops_within_sixty_minutes_for_sixty_minutes():
    guard = [{"method": "StoplossGuard"}]
    pm, _ = manager(guard, stops(9))
    assert pm.global_stop(at(10)) == []
    pm, _ = manager(guard, stops(10))
    [lock] = pm.global_stop(at(10))
    # 12:10 + 60 min, rounded up to the candle open strictly after
    assert (lock.pair, lock.side, lock.lock_end_time) == ("*", "*", at(75))
    pm, _ = manager(guard, stops(10, first=0))  # the first stop is 61 minutes old at 13:01
    assert pm.global_stop(at(61)) == []


def test_stoploss_guard_counts_losses_strictly_below_required_profit():
    settings = [{"method": "StoplossGuard", "trade_limit": 2, "required_profit": -0.05}]
    pm, _ = manager(settings, stops(2, profit=-0.05))
    assert pm.global_stop(at(5)) == []
    pm, _ = manager(settings, stops(2, profit=-0.06))
    assert len(pm.global_stop(at(5))) == 1


def test_stoploss_guard_per_pair_counts_only_that_pairs_stops():
    trades = stops(1, "BTC/USDT") + stops(1, "ETH/USDT", first=2)
    settings = [{"method": "StoplossGuard", "trade_limit": 2, "only_per_pair": True}]
    pm, _ = manager(settings, trades)
    assert pm.stop_per_pair("BTC/USDT", at(5)) == []
    assert pm.global_stop(at(5)) == []  # only_per_pair: never every pair
    pm, _ = manager([{"method": "StoplossGuard", "trade_limit": 2}], trades)
    assert len(pm.global_stop(at(5))) == 1


def test_low_profit_pairs_defaults_to_one_trade_below_zero_within_sixty_minutes():
    pm, _ = manager([{"method": "LowProfitPairs"}], [closed("BTC/USDT", 1, -0.01, "roi")])
    [lock] = pm.stop_per_pair("BTC/USDT", at(5))
    assert (lock.pair, lock.side, lock.lock_end_time) == ("BTC/USDT", "*", at(65))
    pm, _ = manager([{"method": "LowProfitPairs"}], [closed("BTC/USDT", 1, 0.0, "roi")])
    assert pm.stop_per_pair("BTC/USDT", at(5)) == []
    pm, _ = manager([{"method": "LowProfitPairs"}], [closed("ETH/USDT", 1, -0.01, "roi")])
    assert pm.stop_per_pair("BTC/USDT", at(5)) == []
    pm, _ = manager([{"method": "LowProfitPairs"}], [closed("BTC/USDT", 1, -0.01, "roi")])
    assert pm.stop_per_pair("BTC/USDT", at(62)) == []  # outside the lookback


def test_max_drawdown_defaults_to_one_trade_and_any_drawdown_in_ratios():
    trades = [closed("BTC/USDT", 1, 0.02, "roi"), closed("ETH/USDT", 2, -0.01, "roi")]
    pm, _ = manager([{"method": "MaxDrawdown"}], trades)
    assert summary(pm.global_stop(at(5)))[0][:2] == ("*", "*")
    pm, _ = manager([{"method": "MaxDrawdown"}], [closed("BTC/USDT", 1, 0.02, "roi")])
    assert pm.global_stop(at(5)) == []


@pytest.mark.parametrize("mode", ["ratios", "equity"])
def test_max_drawdown_counts_a_trade_without_profit_as_zero(mode: str):
    trades = [closed("BTC/USDT", 1, 0.0, "roi", profit_abs=0.0)]
    settings = [{"method": "MaxDrawdown", "calculation_mode": mode}]
    pm, _ = manager(settings, trades)
    assert pm.global_stop(at(5), starting_balance=100.0) == []


def test_max_drawdown_equity_counts_a_trade_closed_exactly_at_the_window_start_as_before():
    # closed at 12:00, the window of 60 minutes at 13:00 starts there: its profit is in the
    # starting balance (100 + 50), so the later loss of 15 is a 10 % drawdown, not 15 %
    trades = [closed("BTC/USDT", 0, 0.5, "roi"), closed("BTC/USDT", 30, -0.15, "roi")]
    settings = [{"method": "MaxDrawdown", "calculation_mode": "equity"}]
    settings[0]["max_allowed_drawdown"] = 0.12
    pm, _ = manager(settings, trades)
    assert pm.global_stop(at(60), starting_balance=100.0) == []


def test_unlock_at_exactly_the_close_time_ends_the_lock_at_that_close():
    trades = stops(1, first=0)  # closed at 12:00
    settings = [{"method": "StoplossGuard", "trade_limit": 1, "unlock_at": "12:00"}]
    pm, _ = manager(settings, trades)
    [lock] = pm.stop_per_pair("BTC/USDT", T0)
    assert lock.lock_end_time == at(5)  # 12:00, rounded up to the next candle open


def test_cooldown_looks_at_the_closing_pair_only():
    trades = [closed("ETH/USDT", 1, 0.02, "roi")]
    pm, _ = manager([{"method": "CooldownPeriod", "stop_duration": 30}], trades)
    assert pm.stop_per_pair("BTC/USDT", at(2)) == []


# ---------------------------------------------------------------------- sides and lock times


def test_every_lock_starts_now_and_the_side_of_the_close_reaches_the_rules():
    trades = stops(2)
    settings = [
        {"method": "StoplossGuard", "trade_limit": 2, "only_per_side": True},
        {"method": "LowProfitPairs", "only_per_side": True},
    ]
    pm, _ = manager(settings, trades)
    made = pm.handle_close("BTC/USDT", at(3))
    assert [(lk.pair, lk.side) for lk in made] == [
        ("BTC/USDT", "long"),  # auto lock
        ("BTC/USDT", "long"),  # StoplossGuard, this pair (LowProfitPairs' lock is no longer)
        ("*", "long"),  # StoplossGuard, every pair
    ]
    assert {lk.lock_time for lk in made} == {at(3)}
    # a spot bot's trades are long: a rule asked about the short side counts none
    pm, _ = manager(settings, trades)
    assert [lk.side for lk in pm.handle_close("BTC/USDT", at(3), side="short")] == ["short"]


def test_a_lock_on_one_side_does_not_stop_a_lock_for_the_other():
    pm, _ = manager([{"method": "LowProfitPairs", "only_per_side": True}], stops(1))
    pm.lock_pair("BTC/USDT", at(120), "other", T0, side="short")
    pm.lock_pair("*", at(120), "other", T0, side="short")
    [lock] = pm.stop_per_pair("BTC/USDT", at(2))
    assert lock.side == "long" and lock.lock_time == at(2)


def test_the_entry_and_global_locks_are_the_longest_in_force_on_that_side():
    pm, _ = manager([], [])
    pm.lock_pair("*", at(20), "short", T0)
    pm.lock_pair("*", at(50), "long side only", T0, side="long")
    pm.lock_pair("*", at(40), "long", T0)
    pm.lock_pair("BTC/USDT", at(60), "short side", T0, side="short")
    assert pm.global_lock(at(1)).reason == "long"
    assert pm.entry_lock("BTC/USDT", None, at(1)).reason == "long side only"
    assert pm.entry_lock("BTC/USDT", None, at(56)) is None  # at now, no candle
    assert pm.entry_lock("BTC/USDT", at(45), at(1)).reason == "long side only"  # closes 12:50


def test_memory_store_numbers_locks_from_one_and_keeps_their_times():
    store = MemoryLockStore()
    first = store.add(PairLock(None, "A/B", "*", "r", at(1), at(5)))
    second = store.add(PairLock(None, "A/B", "long", "r", at(2), at(10)))
    assert (first.id, second.id) == (1, 2)
    assert (second.lock_time, second.lock_end_time, second.active) == (at(2), at(10), True)
    assert store.in_force("A/B", at(3), "*") == [first]


def test_in_force_skips_non_matching_locks_and_keeps_looking():
    locks = [
        PairLock(1, "A/B", "*", "r", T0, at(1)),  # ended
        PairLock(2, "C/D", "*", "r", T0, at(10)),  # another pair
        PairLock(3, "A/B", "long", "r", T0, at(10)),  # one side only
        PairLock(4, "A/B", "short", "r", T0, at(10)),  # the other side
        PairLock(5, "A/B", "*", "r", T0, at(10)),
    ]
    assert [lk.id for lk in in_force(locks, "A/B", at(5), "*")] == [5]
    assert [lk.id for lk in in_force(locks, "A/B", at(5), "long")] == [3, 5]


def test_a_global_lock_on_one_side_locks_only_that_side():
    locks = [PairLock(1, "*", "long", "r", T0, at(10))]
    assert is_pair_locked(locks, "A/B", at(5), "long")
    assert not is_pair_locked(locks, "A/B", at(5), "short")
    assert not is_pair_locked(locks, "A/B", at(5))


# ---------------------------------------------------------------------- config checks


@pytest.mark.parametrize("value", ["00:00", "23:59"])
def test_unlock_at_accepts_every_time_of_day(value: str):
    assert parse_protections([{"method": "CooldownPeriod", "unlock_at": value}], "5m")


@pytest.mark.parametrize("value", ["24:00", "12:60", "1:2:3", "12", "ab:cd"])
def test_unlock_at_refuses_anything_but_hh_mm(value: str):
    with pytest.raises(ConfigError, match="unlock_at"):
        parse_protections([{"method": "CooldownPeriod", "unlock_at": value}], "5m")


# ---------------------------------------------------------------------- the strategy's API


def test_strategy_locks_use_the_bots_clock_store_and_timeframe():
    pm, store = manager([], [])
    release = Release()
    locks = StrategyLocks(pm, release, Clock(at(2)))
    lock = locks.lock_pair("BTC/USDT", at(12), "manual", "long")
    assert (lock.lock_time, lock.lock_end_time, lock.side) == (at(2), at(15), "long")
    assert locks.is_pair_locked("BTC/USDT", None, "long")
    assert not locks.is_pair_locked("BTC/USDT", None, "short")
    assert not locks.is_pair_locked("ETH/USDT", None, "long")
    assert locks.is_pair_locked("BTC/USDT", at(5), "long")  # candle closes 12:10
    assert not locks.is_pair_locked("BTC/USDT", at(10), "long")  # candle closes 12:15
    pm.lock_pair("*", at(30), "all", at(2))
    assert locks.is_pair_locked("ETH/USDT", at(20), "long")
    locks.unlock_pair("BTC/USDT")
    locks.unlock_reason("manual")
    assert release.calls == [("pair", at(2), "BTC/USDT"), ("reason", at(2), "manual")]
    assert store.locks[0].reason == "manual"


def test_a_lock_as_freqtrades_api_shows_it():
    lock = PairLock(7, "BTC/USDT", "long", "why", at(1.5), at(10), active=False)
    assert lock.to_json() == {
        "id": 7,
        "pair": "BTC/USDT",
        "lock_time": "2026-06-01 12:01:30",
        "lock_timestamp": int(at(1.5).timestamp() * 1000),
        "lock_end_time": "2026-06-01 12:10:00",
        "lock_end_timestamp": int(at(10).timestamp() * 1000),
        "reason": "why",
        "side": "long",
        "active": False,
    }
    assert lock.to_json()["lock_timestamp"] == 1780315290000


# ---------------------------------------------------------------------- more edges


@pytest.mark.parametrize("other", [{"stop_duration": 5}, {"stop_duration_candles": 2}])
def test_unlock_at_with_a_stop_duration_is_refused(other: dict):
    with pytest.raises(ConfigError, match="unlock_at"):
        parse_protections([{"method": "CooldownPeriod", "unlock_at": "12:00", **other}], "5m")


def test_the_starting_balance_reaches_max_drawdown_in_equity_mode_after_a_close():
    trades = [closed("BTC/USDT", 1, -0.5, "roi", profit_abs=-50.0)]
    settings = [{"method": "MaxDrawdown", "calculation_mode": "equity"}]
    settings[0]["max_allowed_drawdown"] = 0.04
    pm, _ = manager(settings, trades)
    made = pm.handle_close("BTC/USDT", at(2), starting_balance=1000.0)  # a 5 % drawdown
    assert [lk.pair for lk in made] == ["BTC/USDT", "*"]
    settings[0]["max_allowed_drawdown"] = 0.06
    pm, _ = manager(settings, trades)
    assert [lk.pair for lk in pm.handle_close("BTC/USDT", at(2), starting_balance=1000.0)] == [
        "BTC/USDT"
    ]


def test_a_pair_lock_is_no_global_lock_and_a_global_short_lock_allows_long_entries():
    pm, _ = manager([], [])
    pm.lock_pair("BTC/USDT", at(30), "pair", T0)
    pm.lock_pair("*", at(30), "short only", T0, side="short")
    assert pm.global_lock(at(1)) is None
    assert pm.entry_lock("ETH/USDT", at(0), at(1)) is None
    locks = StrategyLocks(pm, Release(), Clock(at(1)))
    assert not locks.is_pair_locked("ETH/USDT", None, "long")
    # the lock is judged when the signal's candle closes, not now
    assert pm.entry_lock("BTC/USDT", at(0), at(1)) is not None
    assert pm.entry_lock("BTC/USDT", at(30), at(1)) is None  # closes 12:35, after the end


def test_no_pair_lock_is_made_while_a_longer_global_lock_is_in_force():
    trades = [closed("BTC/USDT", 1, 0.02, "roi")]
    pm, store = manager([{"method": "CooldownPeriod", "stop_duration": 10}], trades)
    pm.lock_pair("*", at(60), "all", T0)
    assert pm.stop_per_pair("BTC/USDT", at(2)) == []
    assert len(store.locks) == 1


def test_drawdowns_follow_the_running_sum_and_need_a_positive_peak():
    assert ratio_drawdown([0.1, -0.05, -0.05]) == pytest.approx(0.1)
    assert equity_drawdown([-0.5], 1.0) == pytest.approx(0.5)
    assert equity_drawdown([-1.0], 0.0) == 0.0  # no balance: no drawdown (and no division)
