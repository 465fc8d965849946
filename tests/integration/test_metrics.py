"""``GET /metrics``: a producer and a consumer scraped over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from candlecast.testing import wait_until
from tests.integration.harness import (
    PAIRS,
    PASSWORD,
    USER,
    CraftedSignals,
    advance,
    consumer_config,
    copies_match,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
)

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int, auth: tuple[str, str] | None = (USER, PASSWORD)) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"http://127.0.0.1:{port}/metrics", auth=auth)


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


async def test_metrics_of_a_running_producer_and_consumer(tmp_path: Path):
    clock = new_clock()
    metrics = {"metrics": {"enabled": True}}
    producer_bot = make_bot(producer_config(tmp_path, **metrics), CraftedSignals(), clock)
    async with opened(producer_bot) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port}, **metrics)
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            for _ in range(2):
                await advance(producer, clock)
            await wait_until(lambda: consumer.repository.count(is_open=True) >= 1, timeout=10)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            theirs = await scrape(producer.api_port)
            ours = await scrape(consumer.api_port)
            status = consumer.clients[0].status
            channel = next(iter(producer.hub.channels))

    assert ours.headers["content-type"].startswith("text/plain")
    found = samples(ours.text)
    assert value(found, "candlecast_producer_connected", producer="default") == 1
    # read after the scrape: a message or trade may have come in between (counters only grow)
    messages = value(found, "candlecast_producer_messages_total", producer="default")
    assert len(PAIRS) < messages <= status.messages_received
    received = value(found, "candlecast_producer_received_bytes_total", producer="default")
    assert 0 < received <= status.bytes_received
    assert value(found, "candlecast_producer_reconnects_total", producer="default") == 0
    assert value(found, "candlecast_producer_invalid_messages_total", producer="default") == 0
    assert 0 <= value(found, "candlecast_producer_lag_seconds", producer="default") < 10
    assert 1 <= value(found, "candlecast_trades_opened_total") <= consumer.stats.entries
    assert value(found, "candlecast_open_trades") >= 1
    for pair in PAIRS:
        assert value(found, "candlecast_analysis_seconds_count", pair=pair) >= 1

    found = samples(theirs.text)
    assert value(found, "candlecast_consumers_connected") == 1
    assert value(found, "candlecast_consumer_queue_depth", consumer=channel.peer) >= 0
    assert value(found, "candlecast_consumer_sent_messages_total", consumer=channel.peer) >= (
        len(PAIRS)
    )
    for pair in PAIRS:
        assert value(found, "candlecast_analysis_seconds_count", pair=pair) >= 3


async def test_metrics_are_off_by_default_and_need_the_api_credentials(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), CraftedSignals(), clock)) as bot:
        assert (await scrape(bot.api_port)).status_code == 404
    raw = producer_config(tmp_path, name="p2", metrics={"enabled": True})
    async with opened(make_bot(raw, CraftedSignals(), clock)) as bot:
        assert (await scrape(bot.api_port, auth=None)).status_code == 401
        assert (await scrape(bot.api_port)).status_code == 200
