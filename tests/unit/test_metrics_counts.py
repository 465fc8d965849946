"""What ``/metrics`` counts that nothing else did: slow-consumer drops, analysis times."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from candlecast.bot.trading import BotStats
from candlecast.messaging.hub import ChannelPolicy
from candlecast.messaging.protocol import Encoding
from candlecast.testing import wait_until
from tests.unit.test_hub_policy import StoppedReading, _hub


def test_dropped_slow_consumers_are_counted_by_address():
    async def scenario() -> None:
        hub = await _hub(replace(ChannelPolicy.from_config(), max_queue_messages=3))
        for port in (40001, 40002):
            sock = StoppedReading()
            channel = hub.open_channel(sock, f"10.0.0.7:{port}", Encoding.JSON)
            for i in range(5):
                channel.enqueue(f'{{"n":{i}}}')
            await wait_until(lambda s=sock: s.closed_with is not None, timeout=5)
        assert hub.drops == {"10.0.0.7": 2}
        await hub.stop()

    asyncio.run(scenario())


def test_analysis_times_accumulate_per_pair():
    stats = BotStats()
    stats.record_analysis("BTC/USDT", 0.5)
    stats.record_analysis("BTC/USDT", 0.25)
    stats.record_analysis("ETH/USDT", 0.1)
    assert stats.analysis == {"BTC/USDT": (2, 0.75, 0.25), "ETH/USDT": (1, 0.1, 0.1)}
