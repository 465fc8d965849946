"""The slow-consumer policy of the producer's hub, on a socket that stopped reading.

The socket double's sends never complete, as on a TCP connection whose peer stopped
reading; everything else is the real hub. The integration test with 50 real consumers
is ``test_stalled_consumer_among_50_is_dropped_while_the_others_keep_receiving``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd

from candlecast.clock import FixedClock
from candlecast.config.producer_consumer import ApiServerConfig
from candlecast.domain.enums import CandleType
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.messaging.protocol import Encoding
from candlecast.testing import make_ohlcv, wait_until


class _Source:
    timeframe = "5m"
    candle_type = CandleType.SPOT

    def current_whitelist(self) -> list[str]:
        return ["BTC/USDT"]

    def analyzed_entry(self, key: object) -> tuple[pd.DataFrame, datetime] | None:
        return make_ohlcv(5), datetime(2026, 1, 1, tzinfo=UTC)


class StoppedReading:
    """A consumer's socket whose sends never complete; records how it was closed."""

    def __init__(self) -> None:
        self.started_sending: list[str | bytes] = []
        self.closed_with: tuple[int, str | None] | None = None

    async def send_text(self, data: str) -> None:
        self.started_sending.append(data)
        await asyncio.Event().wait()

    async def send_bytes(self, data: bytes) -> None:
        self.started_sending.append(data)
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = (code, reason)


async def _hub(policy: ChannelPolicy) -> MessageHub:
    hub = MessageHub(_Source(), policy)
    await hub.start()
    return hub


def test_a_consumer_over_the_queue_limit_is_closed_with_1013_try_again_later():
    async def scenario() -> None:
        hub = await _hub(replace(ChannelPolicy.from_config(), max_queue_messages=3))
        sock = StoppedReading()
        channel = hub.open_channel(sock, "slow", Encoding.JSON)
        kept = [channel.enqueue(f'{{"n":{i}}}') for i in range(5)]
        assert kept == [True, True, True, False, False]  # the 4th queued message is one too many
        await wait_until(lambda: sock.closed_with is not None, timeout=5)
        assert sock.closed_with == (1013, "slow consumer")
        assert channel not in hub.channels and channel.closed
        assert channel.close_reason == "4 messages queued (limit 3)"
        await hub.stop()

    asyncio.run(scenario())


def test_a_consumer_over_the_byte_limit_is_closed_with_1013_the_message_in_flight_not_counted():
    async def scenario() -> None:
        hub = await _hub(replace(ChannelPolicy.from_config(), max_queue_bytes=100))
        sock = StoppedReading()
        channel = hub.open_channel(sock, "slow", Encoding.JSON)
        assert channel.enqueue("x" * 1000)  # in flight: one message may always be sent
        await wait_until(lambda: sock.started_sending, timeout=5)
        assert channel.enqueue("y" * 100)  # 100 bytes waiting: at the limit, not over it
        assert not channel.enqueue("z")
        await wait_until(lambda: sock.closed_with is not None, timeout=5)
        assert sock.closed_with == (1013, "slow consumer")
        assert channel.close_reason == "1101 bytes queued (limit 100)"
        await hub.stop()

    asyncio.run(scenario())


def test_the_sweeper_drops_a_stalled_consumer_when_no_new_message_comes():
    # Nothing is published after the one stuck message, so no enqueue checks the policy:
    # only the hub's periodic sweep can notice that it waits longer than send_timeout.
    send_timeout = 0.4
    sweep = min(1.0, send_timeout / 4)

    async def scenario() -> None:
        hub = await _hub(replace(ChannelPolicy.from_config(), send_timeout=send_timeout))
        sock = StoppedReading()
        channel = hub.open_channel(sock, "slow", Encoding.JSON)
        healthy = hub.open_channel(_Reading(), "healthy", Encoding.JSON)
        queued_at = time.monotonic()
        channel.enqueue('{"type":"whitelist","data":[]}')
        # bound: send_timeout + one sweep interval, + 1 s for a loaded machine's scheduler
        await wait_until(lambda: sock.closed_with is not None, timeout=send_timeout + sweep + 1)
        waited = time.monotonic() - queued_at
        assert waited >= send_timeout  # not before its time
        assert sock.closed_with == (1013, "slow consumer")
        assert hub.channels == {healthy}
        await hub.stop()

    asyncio.run(scenario())


class _Reading:
    async def send_text(self, data: str) -> None:
        pass

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


def test_the_send_timeout_is_measured_on_the_injected_clock():
    # a clock whose intervals move only when told: the stalled consumer is dropped the
    # moment the clock passes send_timeout, however little real time went by
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC), manual_intervals=True)

    async def scenario() -> None:
        hub = MessageHub(_Source(), replace(ChannelPolicy.from_config(), send_timeout=30.0), clock)
        sock = StoppedReading()
        channel = hub.open_channel(sock, "slow", Encoding.JSON)
        clock.advance(5.0)  # measured from when the message was queued
        channel.enqueue('{"type":"whitelist","data":[]}')
        clock.advance(30.0)
        assert channel.check_policy()  # longer than send_timeout, not as long
        clock.advance(0.1)
        assert not channel.check_policy()
        assert channel.close_reason == "oldest message waited 30.1 s (limit 30.0 s)"
        await hub.stop()
        assert sock.closed_with == (1013, "slow consumer")

    asyncio.run(scenario())


def test_stop_closes_every_channel_with_1001_and_leaves_no_task_running():
    async def scenario() -> None:
        hub = await _hub(ChannelPolicy.from_config())
        stalled, idle = StoppedReading(), StoppedReading()
        hub.open_channel(stalled, "stalled", Encoding.JSON).enqueue("x")
        hub.open_channel(idle, "idle", Encoding.JSON)
        await wait_until(lambda: stalled.started_sending, timeout=5)
        started = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert len(started) == 3  # the sweeper and two writers
        await hub.stop()
        assert all(t.done() for t in started)
        assert len(hub.tasks) == 0 and hub.channels == set()
        assert stalled.closed_with == idle.closed_with == (1001, "producer shutting down")

    asyncio.run(scenario())


def test_the_policy_defaults_are_the_api_server_config_defaults():
    api = ApiServerConfig.model_validate(
        {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": 8080,
            "username": "u",
            "password": "p",
        }
    )
    assert ChannelPolicy.from_config() == ChannelPolicy.from_config(api)
