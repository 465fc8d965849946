"""A producer analysing in worker processes (``internals.analysis_workers``), end to end:
consumers hold the producer's frames exactly; a killed worker does not stop the broadcasts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from candlecast.testing import wait_until, wait_until_sync
from tests.integration.harness import (
    PAIRS,
    advance,
    assert_copy_equals_producer,
    consumer_config,
    copies_match,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
    start_trade,
    write_trading_bot,
    ws_url,
)
from tests.integration.test_trade_cli import STRATEGY

pytestmark = pytest.mark.anyio


def worker_producer(tmp_path: Path):
    raw = producer_config(tmp_path, internals={"analysis_workers": 2})
    return make_bot(raw, "ProducerStrategy", new_clock())


async def test_a_consumer_of_a_producer_in_worker_mode_holds_the_producers_frames(tmp_path: Path):
    producer_bot = worker_producer(tmp_path)
    clock = producer_bot.clock
    async with opened(producer_bot) as producer:
        assert producer.pool is not None and len(producer.pool.pids()) == 2
        assert producer.api_port is not None
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=20)
            for _ in range(3):
                await advance(producer, clock)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=20)
            assert_copy_equals_producer(consumer, producer, PAIRS)
    assert producer.stats.strategy_errors == 0


async def test_a_killed_worker_is_replaced_and_the_producer_keeps_broadcasting(tmp_path: Path):
    producer_bot = worker_producer(tmp_path)
    clock = producer_bot.clock
    async with opened(producer_bot) as producer:
        pool = producer.pool
        assert pool is not None
        processes = [w.process for w in pool.workers]
        async with connect(ws_url(producer)) as ws:
            await ws.send('{"type":"subscribe","data":["analyzed_df"]}')
            hub = producer.hub
            assert hub is not None
            await wait_until(lambda: any(c.subscriptions for c in hub.channels))
            victim = pool.pids()[0]
            os.kill(victim, signal.SIGKILL)
            await advance(producer, clock)
            seen: set[str] = set()
            async with asyncio.timeout(20):
                while seen != set(PAIRS):
                    message = orjson.loads(await ws.recv())
                    if message["type"] == "analyzed_df":
                        seen.add(message["data"]["key"][0])
        assert pool.replaced == 1
        assert victim not in pool.pids() and len(pool.pids()) == 2
        assert producer.stats.strategy_errors == 0
        processes += [w.process for w in pool.workers]
    # closed: no worker process is left behind
    assert not any(p.is_alive() for p in processes)


def workers_of(pid: int) -> list[int]:
    """The analysis worker processes (multiprocessing spawn children) of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def trades(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select count(*) from trades").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.fixture
def worker_bot(tmp_path: Path) -> Path:
    config = write_trading_bot(tmp_path, STRATEGY, throttle=0.5)
    raw = json.loads(config.read_text())
    raw["internals"]["analysis_workers"] = 2
    config.write_text(json.dumps(raw))
    return config


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_the_trade_command_analyses_in_workers_and_leaves_none_behind(worker_bot: Path, stop: str):
    proc = start_trade(worker_bot, worker_bot.parent / "bot.log")
    try:
        wait_until_sync(lambda: len(workers_of(proc.pid)) == 2, timeout=60)
        workers = workers_of(proc.pid)
        # the workers' analysis drives the bot's trading
        wait_until_sync(lambda: trades(worker_bot.parent / "trades.sqlite") >= 1, timeout=60)
    finally:
        proc.send_signal(getattr(signal, stop))
        code = proc.wait(20)
    if stop == "SIGTERM":
        assert code == 0
    # stopped by the bot, or (its bot killed) ended on their own
    wait_until_sync(lambda: not any(alive(p) for p in workers), timeout=20)
