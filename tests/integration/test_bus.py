"""Producers publish through a real NATS JetStream server; consumers follow it.

Every test starts real ``nats-server`` processes on loopback (tests/nats_servers.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from candlecast.bus import BusFollower
from candlecast.bus.plan import Subjects
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.protocol import Encoding
from candlecast.testing import wait_until
from tests.integration.harness import (
    PAIRS,
    TOKEN,
    advance,
    assert_copy_equals_producer,
    captured_logs,
    consumer_config,
    copies_match,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
)
from tests.nats_servers import NatsServer, nats_server

pytestmark = pytest.mark.anyio


def bus_section(url: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"url": url, "subject_prefix": "candlecast.test", "stream": "CC_TEST", **extra}


def bus_producer(tmp_path: Path, url: str | list[str], **bus: Any) -> dict[str, Any]:
    return producer_config(tmp_path, message_bus=bus_section(url, **bus))


def bus_consumer(tmp_path: Path, url: str | list[str], **bus: Any) -> dict[str, Any]:
    raw = consumer_config(tmp_path, {"default": 1})
    raw["external_message_consumer"]["producers"] = [
        {"name": "default", "bus": bus_section(url, **bus)}
    ]
    return raw


def follower(bot) -> BusFollower:
    client = bot.clients[0]
    assert isinstance(client, BusFollower)
    return client


@asynccontextmanager
async def bus_fleet(tmp_path: Path, url: str, clock: Any) -> AsyncIterator[tuple[Any, Any]]:
    """A producer publishing to NATS at ``url`` and a consumer following it there, in sync."""
    async with opened(make_bot(bus_producer(tmp_path, url), "ProducerStrategy", clock)) as producer:
        await published(producer)
        async with running(
            make_bot(bus_consumer(tmp_path, url), "ConsumerStrategy", clock)
        ) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            yield producer, consumer


async def published(producer) -> None:
    """Wait until the producer's bus publisher has sent everything queued."""
    await wait_until(lambda: producer.bus.state == "connected" and producer.bus.pending == 0, 10)


async def test_consumer_copies_equal_the_producers_through_nats(tmp_path: Path):
    clock = new_clock()
    with nats_server(tmp_path) as server:
        async with bus_fleet(tmp_path, server.url, clock) as (producer, consumer):
            assert consumer.dp.get_producer_pairs() == PAIRS
            reads = follower(consumer).snapshot_reads
            assert reads == len(PAIRS)  # one snapshot per pair at start
            for _ in range(5):
                await advance(producer, clock)
            await published(producer)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            assert_copy_equals_producer(consumer, producer, PAIRS)
            # the 5 updates per pair were applied as updates, not by re-reading snapshots
            assert follower(consumer).snapshot_reads == reads
            assert follower(consumer).gaps == 0


async def test_each_broadcast_is_stored_once_and_snapshots_keep_only_the_last(tmp_path: Path):
    import nats

    clock = new_clock()
    with nats_server(tmp_path) as server:
        async with opened(
            make_bot(bus_producer(tmp_path, server.url), "ProducerStrategy", clock)
        ) as producer:
            for _ in range(3):
                await advance(producer, clock)
            await published(producer)
            nc = await nats.connect(server.url)
            try:
                js = nc.jetstream()
                updates = await js.stream_info("CC_TEST", subjects_filter=">")
                last = await js.stream_info("CC_TEST_LAST", subjects_filter=">")
                subjects = Subjects("candlecast.test")
                key = PairKey(PAIRS[0], "1m", CandleType.SPOT)
                # 4 analyses (first cycle + 3) per pair, each published once as an update
                assert updates.state.subjects[subjects.update(key)] == 4
                assert last.state.subjects[subjects.snapshot(key)] == 1
                assert last.state.subjects[subjects.whitelist] == 1
                snap = await js.get_last_msg("CC_TEST_LAST", subjects.snapshot(key))
                message = proto.parse_message(snap.data, Encoding.BINARY)
                assert isinstance(message, proto.AnalyzedDfMessage)
                frame, _ = producer.dp.get_analyzed_dataframe(PAIRS[0])
                assert len(message.frame) == 1500
                assert message.frame.equals(frame.tail(1500))
            finally:
                await nc.close()


async def test_websocket_consumers_keep_working_beside_the_bus(tmp_path: Path):
    clock = new_clock()
    with nats_server(tmp_path) as server:
        async with opened(
            make_bot(bus_producer(tmp_path, server.url), "ProducerStrategy", clock)
        ) as producer:
            raw = consumer_config(tmp_path, {"default": producer.api_port})
            async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
                await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
                await advance(producer, clock)
                await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)


async def test_reconnect_resumes_by_sequence_without_reading_snapshots(tmp_path: Path):
    clock = new_clock()
    store = tmp_path / "js"
    server = NatsServer(store).start()
    with captured_logs() as logs:
        await _resume_after_outage(tmp_path, server, clock)
    text = logs.getvalue()
    lost = [line for line in text.splitlines() if "connection to NATS lost" in line]
    assert len(lost) == 2, lost  # one line per side (producer, consumer), not one per retry
    assert "Traceback" not in text


async def _resume_after_outage(tmp_path: Path, server: NatsServer, clock) -> None:
    try:
        async with bus_fleet(tmp_path, server.url, clock) as (producer, consumer):
            reads = follower(consumer).snapshot_reads
            server.stop()
            await wait_until(lambda: follower(consumer).status.state != "connected", 10)
            await advance(producer, clock, 2)  # published once NATS is back
            server.start()
            await published(producer)
            await advance(producer, clock)
            await published(producer)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=15)
            assert follower(consumer).status.reconnects >= 1
            assert follower(consumer).snapshot_reads == reads  # no full resync
            assert follower(consumer).gaps == 0
    finally:
        server.stop()


async def test_a_missing_update_reads_that_pairs_snapshot_only(tmp_path: Path):

    clock = new_clock()
    with nats_server(tmp_path) as server:
        async with bus_fleet(tmp_path, server.url, clock) as (producer, consumer):
            reads = follower(consumer).snapshot_reads
            # the producer loses one publish of the first pair (as when its queue overflows)
            key = PairKey(PAIRS[0], "1m", CandleType.SPOT)
            producer.bus.planner.failed(key)
            await advance(producer, clock)
            await published(producer)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            assert follower(consumer).gaps == 1
            assert follower(consumer).snapshot_reads == reads + 1


async def test_nats_down_at_start_then_up_recovers_without_restart(tmp_path: Path):
    clock = new_clock()
    server = NatsServer(tmp_path / "js")
    with captured_logs() as logs:
        async with opened(
            make_bot(bus_producer(tmp_path, server.url), "ProducerStrategy", clock)
        ) as producer:
            async with running(
                make_bot(bus_consumer(tmp_path, server.url), "ConsumerStrategy", clock)
            ) as consumer:
                await wait_until(lambda: producer.bus.last_error is not None, 10)
                await wait_until(lambda: follower(consumer).status.last_error is not None, 10)
                server.start()
                try:
                    await published(producer)
                    await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=20)
                finally:
                    server.stop()
    text = logs.getvalue()
    outage = [line for line in text.splitlines() if "cannot reach NATS at" in line]
    # one line per side (producer, consumer), not one per retry; no traceback
    assert len(outage) == 2, outage
    assert all(server.url in line for line in outage)
    assert "Traceback" not in text
    assert "Publishing to NATS again" in text


async def test_wrong_token_is_one_line_that_never_shows_the_secret(tmp_path: Path):
    secret = "s3cret-bus-token-value"
    clock = new_clock()
    with nats_server(tmp_path, ["--auth", "the-right-token-0123"]) as server:
        with captured_logs() as logs:
            async with opened(
                make_bot(
                    bus_producer(tmp_path, server.url, token=secret), "ProducerStrategy", clock
                )
            ) as producer:
                await wait_until(lambda: producer.bus.last_error is not None, 10)
                assert "refused our credentials" in producer.bus.last_error
        text = logs.getvalue()
    assert secret not in text
    assert TOKEN not in text
    lines = [line for line in text.splitlines() if "refused our credentials" in line]
    assert len(lines) == 1  # said once, not at every retry


async def test_a_consumer_follows_with_the_right_token(tmp_path: Path):
    token = "the-right-token-0123"
    clock = new_clock()
    with nats_server(tmp_path, ["--auth", token]) as server:
        async with opened(
            make_bot(bus_producer(tmp_path, server.url, token=token), "ProducerStrategy", clock)
        ) as producer:
            await published(producer)
            raw = bus_consumer(tmp_path, server.url, token=token)
            async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
                await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)


# ---------------------------------------------------------------------- relay


def relay_config(tmp_path: Path, url: str) -> dict[str, Any]:
    raw = bus_consumer(tmp_path, url)
    raw["bot_name"] = "relay"
    raw.pop("pairlists")
    raw["api_server"]["ws_token"] = [TOKEN]
    return raw


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_consumers_of_a_relay_see_the_producers_frames(tmp_path: Path, binary: bool):
    from candlecast.bus.relay import Relay
    from candlecast.config import validate_config

    clock = new_clock()
    with nats_server(tmp_path) as server:
        async with opened(
            make_bot(bus_producer(tmp_path, server.url), "ProducerStrategy", clock)
        ) as producer:
            await published(producer)
            relay = Relay(validate_config(relay_config(tmp_path, server.url)))
            await relay.start()
            try:
                assert relay.port is not None
                raw = consumer_config(
                    tmp_path, {"default": relay.port}, external_message_consumer={"binary": binary}
                )
                async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
                    await wait_until(
                        lambda: copies_match(consumer, producer, PAIRS, exact=binary), timeout=15
                    )
                    assert consumer.dp.get_producer_pairs() == PAIRS
                    for _ in range(3):
                        await advance(producer, clock)
                    await published(producer)
                    await wait_until(
                        lambda: copies_match(consumer, producer, PAIRS, exact=binary), timeout=15
                    )
                    assert_copy_equals_producer(consumer, producer, PAIRS, exact=binary)
                    # live rows came as broadcasts through the relay, not as re-requests
                    assert consumer.clients[0].status.requests_sent == 0
            finally:
                await relay.stop()


def test_a_relay_needs_exactly_one_bus_producer_and_an_api_server(tmp_path: Path):
    from candlecast.bus.relay import relay_producer
    from candlecast.config import validate_config
    from candlecast.exceptions import ConfigError

    raw = relay_config(tmp_path, "nats://127.0.0.1:4222")
    raw["external_message_consumer"]["producers"] = []
    raw["external_message_consumer"]["enabled"] = False
    with pytest.raises(ConfigError, match="exactly one producer with a bus"):
        relay_producer(validate_config(raw))
    raw = relay_config(tmp_path, "nats://127.0.0.1:4222")
    raw["api_server"]["enabled"] = False
    with pytest.raises(ConfigError, match=r"api_server\.enabled"):
        relay_producer(validate_config(raw))


# ---------------------------------------------------------------------- hot standby


async def test_a_standby_takes_over_within_the_lease_ttl_and_consumers_stay_equal(
    tmp_path: Path,
):
    ttl = 4  # renewed every ttl/3: a short ttl loses the lead to a busy machine's scheduler
    clock = new_clock()
    with nats_server(tmp_path) as server:
        leader_cfg = bus_producer(tmp_path, server.url, lease_ttl=ttl)
        standby_cfg = bus_producer(tmp_path / "b", server.url, lease_ttl=ttl)
        standby_cfg["bot_name"] = "standby"
        async with opened(make_bot(leader_cfg, "ProducerStrategy", clock)) as leader:
            await wait_until(lambda: leader.bus.leading, 10)
            async with opened(make_bot(standby_cfg, "ProducerStrategy", clock)) as standby:
                await published(leader)
                await wait_until(lambda: standby.bus.lease.identity is not None, 1)
                assert not standby.bus.leading
                raw = bus_consumer(tmp_path, server.url)
                async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
                    await wait_until(lambda: copies_match(consumer, leader, PAIRS), timeout=10)
                    assert standby.bus.published == 0  # it analysed but did not publish
                    # the leader dies without giving the lease up (as under SIGKILL)
                    leader._bus_task.cancel()
                    started = asyncio.get_running_loop().time()
                    await wait_until(lambda: standby.bus.leading, ttl * 3)
                    took = asyncio.get_running_loop().time() - started
                    assert took <= ttl + 1.5
                    for _ in range(2):
                        await advance(standby, clock)
                    await published(standby)
                    await wait_until(lambda: copies_match(consumer, standby, PAIRS), timeout=10)
                    assert_copy_equals_producer(consumer, standby, PAIRS)
                    assert standby.bus.published > 0


async def test_a_cleanly_stopped_leader_hands_over_at_once(tmp_path: Path):
    ttl = 30  # far longer than the test waits: only the release can explain a takeover
    clock = new_clock()
    with nats_server(tmp_path) as server:
        standby_cfg = bus_producer(tmp_path / "b", server.url, lease_ttl=ttl)
        standby_cfg["bot_name"] = "standby"
        leader = make_bot(
            bus_producer(tmp_path, server.url, lease_ttl=ttl), "ProducerStrategy", clock
        )
        async with opened(leader):
            await wait_until(lambda: leader.bus.leading, 10)
            async with opened(make_bot(standby_cfg, "ProducerStrategy", clock)) as standby:
                await published(leader)
                await leader.close()
                await wait_until(lambda: standby.bus.leading, 5)


# ---------------------------------------------------------------------- cluster


@pytest.mark.slow
async def test_a_killed_cluster_node_loses_nothing(tmp_path: Path):
    import nats

    from tests.nats_servers import NatsCluster

    cluster = NatsCluster(tmp_path).start()
    clock = new_clock()
    try:
        raw = bus_producer(tmp_path, cluster.urls, replicas=3)
        async with opened(make_bot(raw, "ProducerStrategy", clock)) as producer:
            await wait_until(
                lambda: producer.bus.state == "connected" and producer.bus.pending == 0, 30
            )
            consumer_raw = bus_consumer(tmp_path, cluster.urls)
            async with running(make_bot(consumer_raw, "ConsumerStrategy", clock)) as consumer:
                await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=15)
                await advance(producer, clock)
                # kill the node the producer publishes through, while it streams
                assert producer.bus._nc is not None and producer.bus._nc.connected_url
                victim = cluster.client_ports.index(producer.bus._nc.connected_url.port)
                await advance(producer, clock)
                cluster.kill(victim)
                for _ in range(3):
                    await advance(producer, clock)
                await wait_until(
                    lambda: producer.bus.state == "connected" and producer.bus.pending == 0, 30
                )
                await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=20)
                assert_copy_equals_producer(consumer, producer, PAIRS)
                assert follower(consumer).gaps == 0
                # every analysis is in the R3 stream exactly once: first cycle + 5
                alive = cluster.urls[(victim + 1) % 3]
                nc = await nats.connect(alive)
                try:
                    info = await nc.jetstream().stream_info("CC_TEST", subjects_filter=">")
                    subjects = Subjects("candlecast.test")
                    for pair in PAIRS:
                        key = PairKey(pair, "1m", CandleType.SPOT)
                        assert info.state.subjects[subjects.update(key)] == 6
                    assert info.config.num_replicas == 3
                finally:
                    await nc.close()
    finally:
        cluster.stop()
