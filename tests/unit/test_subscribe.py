"""A subscription listing message types candlecast does not know still gets the known ones.

freqtrade 2026.9 accepts more types than candlecast sends (``liquidation_warning``, ...);
a client subscribing to them with ``whitelist`` must still receive whitelist broadcasts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pandas as pd

from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.messaging.protocol import Encoding, MessageType
from tests.hub_fakes import RecordingSocket


class _Source:
    timeframe = "5m"
    candle_type = CandleType.SPOT

    def current_whitelist(self) -> list[str]:
        return ["BTC/USDT"]

    def analyzed_entry(self, key: PairKey) -> tuple[pd.DataFrame, datetime] | None:
        return None


def broadcast_types_received(subscribe: list[str]) -> list[str]:
    async def run() -> list[str]:
        hub = MessageHub(_Source(), ChannelPolicy.from_config())
        socket = RecordingSocket()
        channel = hub.open_channel(socket, "test", Encoding.JSON)
        channel.handle_request(orjson.dumps({"type": "subscribe", "data": subscribe}))
        hub.publish(hub.broadcast_whitelist(["BTC/USDT"]))
        for message in hub.build_analyzed(
            PairKey("BTC/USDT", "5m", CandleType.SPOT),
            pd.DataFrame({"date": pd.to_datetime([0], utc=True), "close": [1.0]}),
            datetime(2026, 1, 1, tzinfo=UTC),
            new_candle=True,
        ):
            hub.publish(message)
        async with asyncio.timeout(5):
            while channel.queue_depth:
                await asyncio.sleep(0.001)
        await channel.aclose()
        return [orjson.loads(m)["type"] for m in socket.sent]

    return asyncio.run(run())


def test_unknown_types_in_a_subscription_do_not_void_the_known_ones():
    received = broadcast_types_received(["whitelist", "liquidation_warning", "analyzed_df"])
    assert received == ["whitelist", "analyzed_df"]


def test_a_subscription_of_only_unknown_types_receives_nothing():
    assert broadcast_types_received(["liquidation_warning"]) == []


def test_an_empty_subscription_asks_for_nothing():
    assert broadcast_types_received([]) == []


def test_the_encodings_a_broadcast_needs_follow_subscriptions_and_departures():
    # read by the analysis thread: a snapshot the event loop rebuilds, not the channel set
    json, binary = Encoding.JSON, Encoding.BINARY

    async def run() -> None:
        hub = MessageHub(_Source(), ChannelPolicy.from_config())
        assert hub.encodings_needed(MessageType.ANALYZED_DF) == set()
        text = hub.open_channel(RecordingSocket(), "text", json)
        packed = hub.open_channel(RecordingSocket(), "binary", binary)
        assert hub.encodings_needed(MessageType.ANALYZED_DF) == set()  # not subscribed
        text.handle_request(orjson.dumps({"type": "subscribe", "data": ["analyzed_df"]}))
        assert hub.encodings_needed(MessageType.ANALYZED_DF) == {json}
        packed.handle_request(
            orjson.dumps({"type": "subscribe", "data": ["analyzed_df", "whitelist"]})
        )
        assert hub.encodings_needed(MessageType.ANALYZED_DF) == {json, binary}
        # the binary encoding carries only analyzed_df: its whitelist is JSON text
        assert hub.encodings_needed(MessageType.WHITELIST) == {json}
        assert hub.encodings_needed(MessageType.NEW_CANDLE) == set()
        await text.aclose()
        assert hub.encodings_needed(MessageType.ANALYZED_DF) == {binary}
        await hub.stop()
        assert hub.encodings_needed(MessageType.ANALYZED_DF) == set()

    asyncio.run(run())
