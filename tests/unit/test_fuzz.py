"""Fuzzing both message handlers: malformed input never crashes them or corrupts data.

``make test`` runs a few hundred cases per property; ``make fuzz`` sets
CANDLECAST_FUZZ_EXAMPLES=100000 for a nightly-style run.
"""

from __future__ import annotations

import asyncio
import os
import random
from datetime import UTC, datetime

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlecast.config.models import ExternalMessageConsumerConfig, ProducerConfig
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.client import ProducerClient
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.testing import make_ohlcv
from tests.claims import count

EXAMPLES = int(os.environ.get("CANDLECAST_FUZZ_EXAMPLES", "300"))
# make test draws the same examples every run (no flaky CI); make fuzz draws new ones
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize="CANDLECAST_FUZZ_EXAMPLES" not in os.environ,
)
KEY = ("BTC/USDT", "5m", CandleType.SPOT)
LA = datetime(2026, 1, 1, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def valid_frames() -> list[bytes]:
    frame = make_ohlcv(5, "5m")
    frame["enter_long"] = 0
    return [
        proto.encode_analyzed_df_json(KEY, frame, LA),
        proto.encode_analyzed_df_binary(KEY, frame, LA),
        proto.encode_whitelist(["BTC/USDT", "ETH/USDT"]),
        proto.encode_new_candle(KEY),
    ]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A byte-level mutation: flip, insert, delete, truncate, duplicate or splice."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2 and buf:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 3:
            del buf[pos:]
        elif op == 4:
            buf[pos:pos] = buf[max(0, pos - 32) : pos]
        elif op == 5:
            buf[pos:pos] = rng.choice(
                [b"NaN", b"null", b"1e999", b'"\\ud800"', b"\xff\xfe", b"[[[[", b"-0", b"}"]
            )
    return bytes(buf)


class _Consumer:
    """A consumer client with a seeded store, fed frames directly (no socket)."""

    def __init__(self) -> None:
        producer = ProducerConfig(name="default", host="127.0.0.1", port=1, ws_token="t")
        settings_ = ExternalMessageConsumerConfig(enabled=True, producers=[producer])
        self.store = ProducerStore()
        self.client = ProducerClient(producer, settings_, self.store)
        seed = make_ohlcv(200, "5m")
        seed["enter_long"] = 0
        self.store.put("default", KEY, seed, LA, 0.0)
        self.store.set_pairs("default", ("BTC/USDT",))

    def snapshot(self) -> tuple[pd.DataFrame, list[str]]:
        entry = self.store.get("default", KEY)
        assert entry is not None
        return entry.frame.copy(), self.store.pairs("default")

    def feed(self, raw: str | bytes) -> None:
        count("fuzz: messages fed to the consumer's handler")

        async def run() -> None:
            self.client.handle_frame(raw)
            await asyncio.sleep(0)  # let any follow-up request task fail quietly (no socket)

        asyncio.run(run())


def assert_store_sane(consumer: _Consumer, before: tuple[pd.DataFrame, list[str]]) -> None:
    """Either untouched, or a valid frame: sorted unique dates, ≤ 1500 rows."""
    frame, pairs = consumer.snapshot()
    assert isinstance(pairs, list) and all(isinstance(p, str) for p in pairs)
    if frame.equals(before[0]):
        return
    assert len(frame) <= 1500
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    assert not frame["date"].isna().any()


@FUZZ
@given(st.binary(max_size=512))
def test_consumer_survives_random_bytes(data: bytes):
    consumer = _Consumer()
    before = consumer.snapshot()
    consumer.feed(data)
    consumer.feed(data.decode("utf-8", "replace"))
    frame, pairs = consumer.snapshot()
    pd.testing.assert_frame_equal(frame, before[0])
    assert pairs == before[1]


@FUZZ
@given(
    st.dictionaries(st.sampled_from(["type", "data", "key", "df", "la"]), json_values, max_size=4),
    st.sampled_from(["whitelist", "analyzed_df", "new_candle", "exception", "zzz"]),
)
def test_consumer_survives_wrong_types_and_shapes(obj: dict, kind: str):
    consumer = _Consumer()
    before = consumer.snapshot()
    obj = {**obj, "type": kind}
    consumer.feed(orjson.dumps(obj).decode())
    assert_store_sane(consumer, before)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_consumer_survives_mutated_valid_frames(rng: random.Random):
    consumer = _Consumer()
    before = consumer.snapshot()
    for frame in valid_frames():
        mutated = mutate(frame, rng)
        consumer.feed(mutated if frame.startswith(b"CCB1") else mutated.decode("utf-8", "replace"))
        assert_store_sane(consumer, before)


# how each update is shaped: the next rows in order, two rows out of order, a row twice
SHAPES = {"sorted": [0], "unsorted": [0, -1], "duplicate": [0, 0], "dup_unsorted": [0, -1, 0]}


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 1, 2, 3, 5, 200]), st.sampled_from(sorted(SHAPES))),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_consumer_store_stays_valid_with_unsorted_duplicate_or_gappy_updates(
    updates: list[tuple[int, str]], binary: bool
):
    consumer = _Consumer()
    before = consumer.snapshot()
    history = make_ohlcv(500, "5m")
    history["enter_long"] = 0
    for off, shape in updates:
        part = history.iloc[[199 + off + d for d in SHAPES[shape]]]
        raw = (
            proto.encode_analyzed_df_binary(KEY, part, LA)
            if binary
            else proto.encode_analyzed_df_json(KEY, part, LA).decode()
        )
        consumer.feed(raw)
        assert_store_sane(consumer, before)
        # and never a hole: a gap, even of one candle, is asked for, not merged over
        steps = consumer.snapshot()[0]["date"].diff().iloc[1:]
        assert (steps == pd.Timedelta("5m")).all()


class _Socket:
    def __init__(self) -> None:
        self.sent: list[str | bytes] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.sent.append(f"close {code}")


class _Source:
    timeframe = "5m"
    candle_type = CandleType.SPOT

    def __init__(self) -> None:
        self.frame = make_ohlcv(50, "5m")

    def current_whitelist(self) -> list[str]:
        return ["BTC/USDT"]

    def analyzed_entry(self, key: object) -> tuple[pd.DataFrame, datetime] | None:
        return (self.frame, LA) if key == KEY else None


def run_requests(requests: list[str | bytes]) -> tuple[list[str | bytes], _Source, pd.DataFrame]:
    source = _Source()
    before = source.frame.copy()
    count("fuzz: requests fed to the producer's handler", len(requests))

    async def run() -> list[str | bytes]:
        hub = MessageHub(source, ChannelPolicy())
        sock = _Socket()
        channel = hub.open_channel(sock, "fuzz", binary=False)
        for raw in requests:
            channel.handle_request(raw)
        for _ in range(50):
            await asyncio.sleep(0)
        await channel.aclose()
        return sock.sent

    return asyncio.run(run()), source, before


@FUZZ
@given(
    st.lists(
        st.binary(max_size=256)
        | json_values.map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)),
        max_size=5,
    )
)
def test_producer_survives_random_requests(requests: list[bytes]):
    sent, source, before = run_requests(requests)
    pd.testing.assert_frame_equal(source.frame, before)  # the producer's data is never touched
    for message in sent:
        assert isinstance(message, str)
        parsed = orjson.loads(message)
        assert parsed["type"] in ("exception", "whitelist", "analyzed_df")


@FUZZ
@given(st.randoms(use_true_random=False))
def test_producer_answers_each_invalid_request_with_an_exception(rng: random.Random):
    valid = [
        b'{"type":"whitelist"}',
        b'{"type":"analyzed_df","data":{"limit":2,"pair":"BTC/USDT"}}',
        b'{"type":"subscribe","data":["whitelist"]}',
    ]
    requests = [mutate(rng.choice(valid), rng) for _ in range(5)]
    sent, _, _ = run_requests(requests)
    expected_exceptions = 0
    for raw in requests:
        try:
            proto.parse_request(raw)
        except proto.ProtocolViolation:
            expected_exceptions += 1
    assert sum(1 for m in sent if orjson.loads(m)["type"] == "exception") == expected_exceptions


@pytest.mark.parametrize("depth", [10, 1000, 100_000])
def test_deeply_nested_messages_are_dropped(depth: int):
    consumer = _Consumer()
    before = consumer.snapshot()
    consumer.feed('{"type":"whitelist","data":' + "[" * depth + "]" * depth + "}")
    consumer.feed(
        '{"type":"analyzed_df","data":{"key":["BTC/USDT","5m","spot"],"df":{"__type__":"dataframe","__value__":"'
        + "[" * depth
        + '"},"la":"2026-01-01T00:00:00"}}'
    )
    frame, pairs = consumer.snapshot()
    pd.testing.assert_frame_equal(frame, before[0])
    assert pairs == before[1]
    sent, _, _ = run_requests(["[" * depth + "]" * depth])
    assert [orjson.loads(m)["type"] for m in sent] == ["exception"]
