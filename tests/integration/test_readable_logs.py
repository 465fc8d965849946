"""Logs and status a person can read: first-connection failures, last_error, latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlecast.demo import free_port
from candlecast.testing import wait_until
from tests.integration.harness import (
    PAIRS,
    CraftedSignals,
    captured_logs,
    consumer_config,
    copies_match,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
)

pytestmark = pytest.mark.anyio


async def test_a_producer_never_reached_is_not_lost_and_its_error_clears_on_connect(
    tmp_path: Path,
):
    clock = new_clock()
    port = free_port()
    raw = consumer_config(tmp_path, {"default": port})
    with captured_logs() as logs:
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            client = consumer.clients[0]
            await wait_until(lambda: client.status.last_error is not None, timeout=10)
            raw_p = producer_config(tmp_path, api_server={"listen_port": port})
            async with opened(make_bot(raw_p, CraftedSignals(), clock)):
                await wait_until(lambda: client.status.state == "connected", timeout=15)
                assert client.status.last_error is None
                text = logs.getvalue()  # before the producer stops (that one is lost)
    assert "Cannot connect to producer default yet" in text
    # the consumer's own API (no ws_token: no websocket) is not called a producer
    start = next(line for line in text.splitlines() if "starting bot consumer" in line)
    assert "API on 127.0.0.1:" in start and "producer on" not in start
    assert "Lost producer" not in text


async def test_latency_covers_updates_of_several_rows(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), CraftedSignals(), clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            status = consumer.clients[0].status
            assert status.as_dict([])["latency_ms_p50"] is None  # the first frames: no latency
            clock.advance(5 * 60)  # five candles at once: a five-row update per pair
            await producer.cycle()
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            assert len(status.latencies_ms) == len(PAIRS)
            assert status.as_dict([])["latency_ms_p50"] is not None


async def test_listen_prints_a_latency_per_frame_and_a_refused_token_once(tmp_path: Path):
    from tests.integration.harness import TOKEN
    from tests.integration.test_consumer import run_listen

    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), CraftedSignals(), clock)) as producer:
        code, out, _ = await run_listen(producer.api_port, TOKEN, "--seconds", "3")
        assert code == 0
        frames = [line for line in out.decode().splitlines() if " rows x " in line]
        assert len(frames) == len(PAIRS)
        assert all(", latency " in line and line.endswith(" ms") for line in frames)

        code, out, err = await run_listen(producer.api_port, "wrong", "--seconds", "3")
        assert code == 1
        said = (out + err).decode().count("refused the ws_token")
        assert said == 1
