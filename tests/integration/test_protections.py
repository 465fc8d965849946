"""Protections in a whole bot (real SQLite, the REST API on 127.0.0.1 port 0) on a scripted
market and a test clock: one price per minute, one cycle per minute 30 s into it, an
entry signal on every candle, and ROI that closes a trade on the first rise (ROI above
5 %): prices 100, 110 open at 100 on minute 0 and close at 110 on minute 1."""

from __future__ import annotations

import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from candlecast.bot.runtime import Bot
from candlecast.clock import FixedClock
from candlecast.config import validate_config
from candlecast.strategy import IStrategy
from candlecast.testing import ScriptedExchange, wait_until_sync
from tests.integration.harness import start_trade, write_trading_bot

pytestmark = pytest.mark.anyio

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAIR = "BTC/USDT"
USER, PASSWORD = "tester", "test-password-xyz"


def at_step(i: int, seconds: int = 30) -> datetime:
    return START + timedelta(minutes=i, seconds=seconds)


class AlwaysIn(IStrategy):
    timeframe = "1m"
    stoploss = -0.5
    minimal_roi = {"0": 0.05}
    process_only_new_candles = False

    def __init__(self, protections: list[dict[str, Any]]) -> None:
        super().__init__()
        self.protections = protections

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["enter_long"] = 1
        return dataframe


def make_bot(tmp_path: Path, protections: list[dict[str, Any]], prices: list[float]) -> Bot:
    clock = FixedClock(at_step(0))
    raw = {
        "bot_name": "protect",
        "stake_amount": 100,
        "max_open_trades": 1,
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": 0,
            "username": USER,
            "password": PASSWORD,
        },
    }
    exchange = ScriptedExchange(clock, {PAIR: prices}, START)
    return Bot(validate_config(raw), AlwaysIn(protections), exchange=exchange, clock=clock)


def opens(bot: Bot) -> list[datetime]:
    return [t.open_date for t in bot.repository.trades()[::-1]]


async def run_steps(bot: Bot, steps: int) -> None:
    assert isinstance(bot.clock, FixedClock)
    for _ in range(steps):
        await bot.cycle()
        bot.clock.advance(60)


PRICES = [100, 110, 100, 100, 100, 100, 100, 100]


async def test_without_protections_the_pair_reenters_on_the_next_candle_only(tmp_path: Path):
    bot = make_bot(tmp_path, [], PRICES)
    await bot.open()
    try:
        await run_steps(bot, 3)
        # closed on minute 1; the auto lock (until 12:02) keeps it out on minute 1 itself
        assert opens(bot) == [at_step(0), at_step(2)]
        locks = bot.locks.all_locks()
        assert [(lock.pair, lock.side, lock.reason, lock.lock_end_time) for lock in locks] == [
            (PAIR, "long", "Auto lock", START + timedelta(minutes=2))
        ]
    finally:
        await bot.close()


async def test_cooldown_of_two_candles_keeps_the_pair_out_for_exactly_two_candles(
    tmp_path: Path,
):
    bot = make_bot(tmp_path, [{"method": "CooldownPeriod", "stop_duration_candles": 2}], PRICES)
    await bot.open()
    try:
        await run_steps(bot, 5)
        # closed 12:01:30; + 2 candles = 12:03:30, rounded up to 12:04: the candles that
        # close at 12:02 and 12:03 may not enter, the one closing at 12:04 does
        assert opens(bot) == [at_step(0), at_step(4)]
        cooldown = bot.locks.all_locks()[1]
        assert (cooldown.reason, cooldown.lock_time, cooldown.lock_end_time) == (
            "Cooldown period for 2 candles.",
            at_step(1),
            START + timedelta(minutes=4),
        )
    finally:
        await bot.close()


async def test_locks_are_listed_by_the_api_and_a_deleted_lock_frees_the_pair(tmp_path: Path):
    bot = make_bot(tmp_path, [{"method": "CooldownPeriod", "stop_duration": 60}], PRICES)
    await bot.open()
    try:
        await run_steps(bot, 3)  # closed on minute 1, locked until 13:02
        assert opens(bot) == [at_step(0)]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{bot.api_port}", auth=(USER, PASSWORD)
        ) as client:
            body = (await client.get("/api/v1/locks")).json()
            # the auto lock ended at 12:02; the cooldown is in force
            assert body["lock_count"] == 1
            (lock,) = body["locks"]
            assert lock == {
                "id": 2,
                "pair": PAIR,
                "lock_time": "2026-06-01 12:01:30",
                "lock_timestamp": int(at_step(1).timestamp() * 1000),
                "lock_end_time": "2026-06-01 13:02:00",
                "lock_end_timestamp": int((START + timedelta(minutes=62)).timestamp() * 1000),
                "reason": "Cooldown period for 60 minutes.",
                "side": "*",
                "active": True,
            }
            assert (await client.get("/api/v1/locks", auth=None)).status_code == 401
            after = (await client.delete(f"/api/v1/locks/{lock['id']}")).json()
            assert after == {"lock_count": 0, "locks": []}
        await run_steps(bot, 1)
        assert opens(bot) == [at_step(0), at_step(3)]
        released = bot.locks.all_locks()[1]
        assert (released.active, released.lock_end_time) == (False, at_step(3))
    finally:
        await bot.close()


async def test_locks_added_through_the_api_keep_every_pair_out(tmp_path: Path):
    bot = make_bot(tmp_path, [], [100] * 5)
    await bot.open()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{bot.api_port}", auth=(USER, PASSWORD)
        ) as client:
            body = (
                await client.post(
                    "/api/v1/locks",
                    json=[{"pair": "*", "until": "2026-06-01T12:02:10Z", "reason": "manual"}],
                )
            ).json()
        assert [(lock["pair"], lock["lock_end_time"]) for lock in body["locks"]] == [
            ("*", "2026-06-01 12:03:00")
        ]
        await run_steps(bot, 4)
        assert opens(bot) == [at_step(3)]  # 12:03:30: the global lock has ended
    finally:
        await bot.close()


def test_a_bad_protection_stops_the_start_in_one_line(tmp_path: Path):
    from candlecast.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"^protections\[0\]\.method: expected one of"):
        make_bot(tmp_path, [{"method": "ProfitLimit"}], PRICES)


# --- a real process, kill -9 ------------------------------------------------------------------
COOLDOWN_STRATEGY = """
from candlecast.strategy import IStrategy

class EveryRise(IStrategy):
    timeframe = "1s"
    minimal_roi = {"0": 0.0004}
    stoploss = -0.0004
    process_only_new_candles = True

    @property
    def protections(self):
        return [{"method": "CooldownPeriod", "stop_duration_candles": 20}]

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["close"] > dataframe["open"], "enter_long"] = 1
        return dataframe
"""


def db_rows(directory: Path, query: str) -> list[tuple]:
    db = directory / "trades.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(query).fetchall()
        except sqlite3.OperationalError:
            return []


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_locks_survive_kill_9_and_keep_their_pair_out_after_the_restart(tmp_path: Path):
    write_trading_bot(tmp_path, COOLDOWN_STRATEGY, throttle=0.5)
    cooldowns = "select id, pair, lock_time, lock_end_time, active from pairlocks where reason like 'Cooldown%'"
    proc = start_trade(tmp_path / "config.json", tmp_path / "bot.log")
    try:
        wait_until_sync(lambda: db_rows(tmp_path, cooldowns), timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = db_rows(tmp_path, cooldowns)
    killed_at = datetime.now(UTC)
    proc = start_trade(tmp_path / "config.json", tmp_path / "restarted.log")
    try:
        # the restarted bot trades (a trade opened after the restart) ...
        wait_until_sync(
            lambda: any(
                parse(o) > killed_at for (o,) in db_rows(tmp_path, "select open_date from trades")
            ),
            timeout=60,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    # ... with the locks of before the kill kept as they were
    assert db_rows(tmp_path, cooldowns)[: len(before)] == before
    # and no trade ever opened on a pair while one of its cooldowns was in force
    for _, pair, start, end, _ in db_rows(tmp_path, cooldowns):
        inside = db_rows(
            tmp_path,
            f"select open_date from trades where pair = '{pair}' "
            f"and open_date > '{start}' and open_date < '{end}'",
        )
        assert inside == [], f"{pair} entered during its cooldown {start} .. {end}"
    assert "Traceback" not in (tmp_path / "restarted.log").read_text()


async def test_a_strategy_locks_and_unlocks_pairs_itself_as_in_freqtrade(tmp_path: Path):
    seen: list[bool] = []

    class LocksItself(AlwaysIn):
        def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
            if current_time == at_step(0):
                self.lock_pair(PAIR, current_time + timedelta(seconds=100), "mine")
            if current_time == at_step(2):
                self.unlock_reason("mine")
            seen.append(self.is_pair_locked(PAIR))

    clock = FixedClock(at_step(0))
    raw = {
        "stake_amount": 100,
        "max_open_trades": 1,
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
    }
    strategy = LocksItself([])
    exchange = ScriptedExchange(clock, {PAIR: [100] * 4}, START)
    bot = Bot(validate_config(raw), strategy, exchange=exchange, clock=clock)
    await bot.open()
    try:
        await run_steps(bot, 3)
        # locked until 12:02:10, rounded up to 12:03; released by reason on minute 2
        assert seen == [True, True, False]
        assert opens(bot) == [at_step(2)]
        (lock,) = bot.locks.all_locks()[:1]
        assert (lock.reason, lock.active, lock.lock_end_time) == ("mine", False, at_step(2))
    finally:
        await bot.close()
