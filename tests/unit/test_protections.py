"""Protections and pair locks as freqtrade runs them: pure rules over closed trades,
an in-memory lock store and explicit times (5 m candles unless a test says otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from candlecast.bot.protections import (
    AUTO_LOCK_REASON,
    MemoryLockStore,
    ProtectionManager,
    parse_protections,
)
from candlecast.bot.protections.rules import equity_drawdown, ratio_drawdown
from candlecast.domain.locks import PairLock, is_pair_locked, next_candle_open
from candlecast.domain.trades import Trade
from candlecast.exceptions import ConfigError
from candlecast.persistence.locks import LockRepository
from candlecast.persistence.repository import TradeRepository

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def closed(
    pair: str,
    close_minute: float,
    profit: float,
    reason: str = "stop_loss",
    profit_abs: float | None = None,
) -> Trade:
    return Trade(
        id=None,
        pair=pair,
        is_open=False,
        open_date=at(close_minute - 30),
        open_rate=100.0,
        amount=1.0,
        stake_amount=100.0,
        fee_open=0.0,
        fee_close=0.0,
        strategy="S",
        timeframe="5m",
        close_date=at(close_minute),
        close_rate=100.0 * (1 + profit),
        exit_reason=reason,
        close_profit=profit,
        close_profit_abs=100.0 * profit if profit_abs is None else profit_abs,
    )


def source_of(trades: Sequence[Trade]):
    def source(since: datetime | None, pair: str | None) -> list[Trade]:
        return [
            t
            for t in trades
            if (since is None or (t.close_date is not None and t.close_date > since))
            and (pair is None or t.pair == pair)
        ]

    return source


def manager(settings: list[dict], trades: Sequence[Trade], timeframe: str = "5m"):
    store = MemoryLockStore()
    return ProtectionManager(
        parse_protections(settings, timeframe), timeframe, store, source_of(trades)
    ), store


def summary(locks: Sequence[PairLock]) -> list[tuple[str, str, str | None, datetime]]:
    return [(lock.pair, lock.side, lock.reason, lock.lock_end_time) for lock in locks]


# --- lock times ---------------------------------------------------------------------------
def test_lock_ends_round_up_to_the_next_candle_open_strictly_after():
    assert next_candle_open("5m", at(3)) == at(5)
    assert next_candle_open("5m", at(5)) == at(10)  # on a boundary: the next one
    assert next_candle_open("1h", at(61)) == at(120)


def test_a_lock_is_in_force_until_its_end_excluded_and_only_while_active():
    lock = PairLock(1, "BTC/USDT", "*", "r", at(0), at(10))
    assert is_pair_locked([lock], "BTC/USDT", at(9.9))
    assert not is_pair_locked([lock], "BTC/USDT", at(10))
    assert not is_pair_locked([lock], "ETH/USDT", at(5))
    released = PairLock(1, "BTC/USDT", "*", "r", at(0), at(10), active=False)
    assert not is_pair_locked([released], "BTC/USDT", at(5))


def test_a_global_lock_locks_every_pair_and_sides_follow_freqtrade():
    glob = PairLock(1, "*", "*", "r", at(0), at(10))
    long_only = PairLock(2, "ETH/USDT", "long", "r", at(0), at(10))
    assert is_pair_locked([glob], "XRP/USDT", at(5), side="long")
    assert is_pair_locked([long_only], "ETH/USDT", at(5), side="long")
    assert not is_pair_locked([long_only], "ETH/USDT", at(5), side="short")
    assert not is_pair_locked([long_only], "ETH/USDT", at(5), side="*")


# --- after a close ------------------------------------------------------------------------
def test_every_close_locks_the_pair_until_the_next_candle_even_without_protections():
    pm, _ = manager([], [])
    made = pm.handle_close("BTC/USDT", at(7))
    assert summary(made) == [("BTC/USDT", "long", AUTO_LOCK_REASON, at(10))]
    # the signal of the candle 12:05 (closing 12:10) may not re-enter; the next may
    assert pm.entry_lock("BTC/USDT", at(0), at(7)) is not None
    assert pm.entry_lock("BTC/USDT", at(5), at(10.5)) is None


def test_cooldown_locks_the_pair_for_exactly_n_candles_after_the_close():
    trades = [closed("BTC/USDT", 13, 0.02, "roi")]
    pm, _ = manager([{"method": "CooldownPeriod", "stop_duration_candles": 2}], trades)
    made = pm.handle_close("BTC/USDT", at(13))
    # 12:13 + 2 candles of 5 m = 12:23, rounded up to the candle open 12:25
    assert summary(made)[1] == ("BTC/USDT", "*", "Cooldown period for 2 candles.", at(25))
    assert pm.entry_lock("BTC/USDT", at(15), at(21)) is not None  # candle closing 12:20
    assert pm.entry_lock("BTC/USDT", at(20), at(26)) is None  # candle closing 12:25
    assert pm.entry_lock("ETH/USDT", at(15), at(21)) is None


def test_cooldown_in_minutes_and_no_second_lock_while_one_lasts_longer():
    trades = [closed("BTC/USDT", 13, 0.02, "roi")]
    pm, store = manager([{"method": "CooldownPeriod", "stop_duration": 30}], trades)
    pm.handle_close("BTC/USDT", at(13))
    assert summary(store.locks)[1][2:] == ("Cooldown period for 30 minutes.", at(45))
    pm.stop_per_pair("BTC/USDT", at(14))  # the same verdict: a lock already lasts that long
    assert len(store.locks) == 2


def test_stoploss_guard_locks_every_pair_after_trade_limit_losing_stops():
    trades = [
        closed("BTC/USDT", 10, -0.05),
        closed("ETH/USDT", 20, -0.03, "trailing_stop_loss"),
        closed("SOL/USDT", 25, -0.04, "roi"),  # not a stop
        closed("XRP/USDT", 26, 0.01, "stop_loss"),  # a stop with profit: not counted
    ]
    settings = {
        "method": "StoplossGuard",
        "lookback_period_candles": 12,
        "trade_limit": 2,
        "stop_duration_candles": 3,
    }
    pm, _ = manager([settings], trades)
    made = pm.global_stop(at(26))
    # 3 candles after the last counted stop (12:20) is 12:35, a candle open, which
    # rounds up to the next one (as ccxt's round_timeframe does): 12:40
    assert summary(made) == [("*", "*", "2 stoplosses in 60 min, locking for 3 candles.", at(40))]
    assert pm.global_lock(at(39)) is not None and pm.global_lock(at(40)) is None
    assert pm.entry_lock("ADA/USDT", at(30), at(36)) is not None


def test_stoploss_guard_only_per_pair_and_outside_the_lookback():
    trades = [closed("BTC/USDT", 10, -0.05), closed("BTC/USDT", 50, -0.05)]
    settings = {
        "method": "StoplossGuard",
        "lookback_period": 30,
        "trade_limit": 2,
        "stop_duration": 60,
        "only_per_pair": True,
    }
    pm, store = manager([settings], trades)
    assert pm.global_stop(at(55)) == []
    assert pm.stop_per_pair("BTC/USDT", at(55)) == []  # 12:10 is out of the 30 min window
    pm2, _ = manager([{**settings, "lookback_period": 60}], trades)
    assert summary(pm2.stop_per_pair("BTC/USDT", at(55))) == [
        ("BTC/USDT", "*", "2 stoplosses in 60 min, locking for 60 minutes.", at(115))
    ]
    assert store.locks == []


def test_low_profit_pairs_locks_when_the_profit_sum_is_below_required():
    trades = [closed("BTC/USDT", 10, 0.01, "roi"), closed("BTC/USDT", 20, -0.02, "exit_signal")]
    base = {
        "method": "LowProfitPairs",
        "lookback_period": 60,
        "trade_limit": 2,
        "stop_duration": 15,
        "required_profit": 0.0,
    }
    pm, _ = manager([base], trades)
    made = pm.stop_per_pair("BTC/USDT", at(21))
    assert [lock.lock_end_time for lock in made] == [at(40)]  # 12:20 + 15 min, rounded up
    assert made[0].reason.startswith("-0.01 < 0.0 in 60 minutes, locking for 15 minutes")
    enough, _ = manager([{**base, "required_profit": -0.01}], trades)
    assert enough.stop_per_pair("BTC/USDT", at(21)) == []  # -0.01 is not below -0.01
    few, _ = manager([{**base, "trade_limit": 3}], trades)
    assert few.stop_per_pair("BTC/USDT", at(21)) == []


def test_drawdown_of_profit_ratios_and_of_the_equity_curve_by_hand():
    # running sum 0.1, -0.05, -0.15 below a high of 0.1: 0.25
    assert ratio_drawdown([0.1, -0.15, -0.1]) == pytest.approx(0.25)
    assert ratio_drawdown([-0.3]) == pytest.approx(0.3)  # the high starts at 0
    assert ratio_drawdown([0.1, 0.2]) == 0.0
    # equity 950 -> 1050 -> 900 -> 800: (1050 - 800) / 1050
    assert equity_drawdown([100, -150, -100], 950) == pytest.approx(250 / 1050)


def test_max_drawdown_ratios_locks_every_pair_after_the_last_trade():
    trades = [
        closed("BTC/USDT", 10, 0.1, "roi"),
        closed("ETH/USDT", 20, -0.15),
        closed("BTC/USDT", 30, -0.1),
    ]
    base = {
        "method": "MaxDrawdown",
        "lookback_period_candles": 12,
        "trade_limit": 3,
        "stop_duration_candles": 2,
        "max_allowed_drawdown": 0.2,
    }
    pm, _ = manager([base], trades)
    (lock,) = pm.global_stop(at(31))
    # 12:30 + 2 candles is the candle open 12:40, rounded up to the next: 12:45
    assert (lock.pair, lock.lock_end_time) == ("*", at(45))
    assert lock.reason.endswith("passed 0.2 in 12 candles, locking for 2 candles.")
    for settings in ({**base, "max_allowed_drawdown": 0.25}, {**base, "trade_limit": 4}):
        quiet, _ = manager([settings], trades)
        assert quiet.global_stop(at(31)) == []


def test_max_drawdown_equity_starts_from_the_balance_at_the_window_start():
    trades = [
        closed("BTC/USDT", -100, -0.05, profit_abs=-50),  # before the window: in the balance
        closed("BTC/USDT", 10, 0.1, "roi", profit_abs=100),
        closed("ETH/USDT", 20, -0.15, profit_abs=-150),
        closed("BTC/USDT", 30, -0.1, profit_abs=-100),
    ]
    settings = {
        "method": "MaxDrawdown",
        "lookback_period": 60,
        "trade_limit": 1,
        "stop_duration": 10,
        "calculation_mode": "equity",
    }
    # drawdown 250 / 1050 = 0.238
    locked, _ = manager([{**settings, "max_allowed_drawdown": 0.23}], trades)
    assert locked.needs_balance
    assert [lock.lock_end_time for lock in locked.global_stop(at(31), starting_balance=1000)] == [
        at(45)
    ]
    quiet, _ = manager([{**settings, "max_allowed_drawdown": 0.24}], trades)
    assert quiet.global_stop(at(31), starting_balance=1000) == []


def test_unlock_at_ends_the_lock_at_that_time_of_day_after_the_close():
    trades = [closed("BTC/USDT", 13, 0.02, "roi")]
    pm, _ = manager([{"method": "CooldownPeriod", "unlock_at": "11:00"}], trades)
    # no duration: only a trade closed after now counts in its window, none does
    assert pm.stop_per_pair("BTC/USDT", at(14)) == []
    rule = parse_protections([{"method": "CooldownPeriod", "unlock_at": "11:00"}], "5m")[0]
    assert rule.lock_end(trades) == datetime(2026, 6, 2, 11, 0, tzinfo=UTC)


# --- settings -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ([{"method": "Nope"}], "protections[0].method: expected one of CooldownPeriod"),
        (
            [{"method": "CooldownPeriod", "stop_duration": 5, "stop_duration_candles": 1}],
            "protections[0]: set either stop_duration or stop_duration_candles",
        ),
        (
            [{"method": "MaxDrawdown", "lookback_period": 5, "lookback_period_candles": 1}],
            "set either lookback_period or lookback_period_candles",
        ),
        (
            [{"method": "StoplossGuard", "trade_limit": "4"}],
            "protections[0].trade_limit: expected a number, got '4'",
        ),
        (
            [{"method": "StoplossGuard", "trade_limit": 1.5}],
            "protections[0].trade_limit: expected a whole number",
        ),
        (
            [{"method": "CooldownPeriod", "unlock_at": "25:00"}],
            'unlock_at: expected a time of day "HH:MM"',
        ),
        (
            [{"method": "MaxDrawdown", "calculation_mode": "sum"}],
            'calculation_mode: expected "ratios" or "equity"',
        ),
        ({"method": "CooldownPeriod"}, "protections: expected a list of dicts"),
        (["CooldownPeriod"], "protections[0]: expected a dict, got str"),
    ],
)
def test_bad_protections_are_refused_in_one_line(settings: object, message: str):
    with pytest.raises(ConfigError) as info:
        parse_protections(settings, "5m")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# --- SQLite ---------------------------------------------------------------------------------
def test_locks_are_stored_released_and_an_older_database_gains_the_table(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    repo = TradeRepository(url)
    with repo.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE pairlocks")  # a database from before locks
    locks = LockRepository.beside(repo)
    stored = locks.add(PairLock(None, "BTC/USDT", "*", "why", at(0), at(10)))
    locks.add(PairLock(None, "*", "long", "all", at(0), at(20)))
    assert stored.id is not None
    assert [lock.pair for lock in locks.in_force(None, at(5))] == ["BTC/USDT", "*"]
    assert [lock.pair for lock in locks.in_force(None, at(5), "*")] == ["BTC/USDT"]
    assert locks.in_force("BTC/USDT", at(10)) == []
    assert locks.release(at(6), lock_id=stored.id) == 1
    (released, kept) = locks.all_locks()
    assert (released.active, released.lock_end_time) == (False, at(6))
    assert locks.in_force(None, at(7)) == [kept]
    repo.close()


def test_candles_of_a_sub_minute_timeframe_count_in_seconds():
    # freqtrade counts whole minutes, so 20 candles of 1 s would last 0 (docs/compat.md)
    trades = [closed("BTC/USDT", 13, 0.02, "roi")]
    pm, _ = manager([{"method": "CooldownPeriod", "stop_duration_candles": 20}], trades, "1s")
    (_, cooldown) = pm.handle_close("BTC/USDT", at(13) + timedelta(seconds=0.5))
    assert cooldown.lock_end_time == at(13) + timedelta(seconds=21)
