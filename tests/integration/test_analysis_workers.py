"""A producer analysing in worker processes (``internals.analysis_workers``), end to end:
consumers hold the producer's frames exactly; a killed worker does not stop the broadcasts."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from candlecast.testing import wait_until
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
    ws_url,
)

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
