"""Compress-once permessage-deflate: valid messages, fast for big ones, shared by content."""

from __future__ import annotations

import asyncio
import zlib
from datetime import UTC, datetime

import orjson
import pandas as pd
import pytest

from candlecast.api.wsprotocol import (
    BIG_MESSAGE,
    MEM_LEVEL,
    WINDOW_BITS,
    CompressedCache,
    cache_key,
    deflate_message,
)
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.messaging.protocol import Encoding
from candlecast.testing import make_ohlcv


def inflate(message: bytes, window_bits: int) -> bytes:
    # RFC 7692: the receiver appends the removed empty block before inflating
    return zlib.decompressobj(-window_bits).decompress(message + b"\x00\x00\xff\xff")


@pytest.mark.parametrize("size", [10, 5_000, BIG_MESSAGE + 1, 1_000_000], ids=str)
def test_a_deflated_message_inflates_to_the_same_bytes(size: int):
    data = orjson.dumps(
        make_ohlcv(size // 60 + 1).to_dict("list"), option=orjson.OPT_SERIALIZE_NUMPY, default=str
    )[:size]
    assert inflate(deflate_message(data, WINDOW_BITS), WINDOW_BITS) == data


def test_big_messages_use_the_fast_level_small_ones_the_default():
    data = orjson.dumps({"rows": [[i, i * 1.5, str(i)] for i in range(20_000)]})
    assert len(data) >= BIG_MESSAGE
    fast = zlib.compressobj(1, zlib.DEFLATED, -WINDOW_BITS, MEM_LEVEL)
    expected = fast.compress(data) + fast.flush(zlib.Z_SYNC_FLUSH)
    assert deflate_message(data, WINDOW_BITS) == expected[:-4]
    small = data[: BIG_MESSAGE - 1]
    default = zlib.compressobj(-1, zlib.DEFLATED, -WINDOW_BITS, MEM_LEVEL)
    expected = default.compress(small) + default.flush(zlib.Z_SYNC_FLUSH)
    assert deflate_message(small, WINDOW_BITS) == expected[:-4]


def test_a_precompressed_message_is_found_by_content_and_only_by_content():
    cache = CompressedCache(1 << 20)
    text = "x" * 4000 + "y" * 4000
    cache.precompress(text)
    data = text.encode()
    hit = cache.get(cache_key(data, WINDOW_BITS, MEM_LEVEL), data)
    assert hit is not None and inflate(hit, WINDOW_BITS) == data
    # same length and key, other bytes (a forged hash collision): never served
    assert cache.get(cache_key(data, WINDOW_BITS, MEM_LEVEL), data[::-1]) is None
    cache.precompress("short")  # below the sharing threshold: not kept
    assert cache.get(cache_key(b"short", WINDOW_BITS, MEM_LEVEL), b"short") is None


class _Source:
    timeframe = "5m"
    candle_type = CandleType.SPOT

    def __init__(self) -> None:
        self.frame = make_ohlcv(1500)

    def current_whitelist(self) -> list[str]:
        return ["BTC/USDT"]

    def analyzed_entry(self, key: object) -> tuple[pd.DataFrame, datetime] | None:
        return self.frame, datetime(2026, 1, 1, tzinfo=UTC)


def test_concurrent_requests_for_one_frame_are_encoded_and_precompressed_once(monkeypatch):
    encoded: list[int] = []
    original = proto.ANALYZED_DF_ENCODERS[Encoding.JSON]

    def counting(*args: object, **kwargs: object) -> bytes:
        encoded.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setitem(proto.ANALYZED_DF_ENCODERS, Encoding.JSON, counting)
    cache = CompressedCache(1 << 26)

    async def scenario() -> list[str | bytes | None]:
        hub = MessageHub(_Source(), ChannelPolicy.from_config())
        hub.precompress = cache.precompress
        key = PairKey("BTC/USDT", "5m", CandleType.SPOT)
        replies = await asyncio.gather(
            *(hub.encode_reply(key, 1500, Encoding.JSON) for _ in range(10))
        )
        await hub.stop()
        return replies

    replies = asyncio.run(scenario())
    assert len(encoded) == 1
    assert all(r is replies[0] for r in replies)  # the same object, shared
    data = str(replies[0]).encode()
    assert cache.get(cache_key(data, WINDOW_BITS, MEM_LEVEL), data) is not None
