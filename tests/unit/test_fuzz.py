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

from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.messaging.protocol import Encoding
from candlecast.messaging.session import (
    INITIAL_SYNC_WINDOW,
    ConsumerSession,
    SendRequest,
    SetPairs,
    StoreFrame,
)
from candlecast.testing import make_ohlcv
from tests.claims import count
from tests.hub_fakes import RecordingSocket

EXAMPLES = int(os.environ.get("CANDLECAST_FUZZ_EXAMPLES", "300"))
# make test draws the same examples every run (no flaky CI); make fuzz draws new ones
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize="CANDLECAST_FUZZ_EXAMPLES" not in os.environ,
)
KEY = PairKey("BTC/USDT", "5m", CandleType.SPOT)
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
    """A consumer session holding a 200-candle copy, fed frames directly (no socket)."""

    def __init__(self) -> None:
        self.session = ConsumerSession()
        self.store = ProducerStore()
        self.now = 0.0
        # candlecast's encoding: binary frames decode as such, text frames as JSON
        self.session.on_open(self.now, Encoding.BINARY)
        seed = make_ohlcv(200, "5m")
        seed["enter_long"] = 0
        self.feed(proto.encode_analyzed_df_json(KEY, seed, LA).decode())
        self.feed(proto.encode_whitelist(["BTC/USDT"]).decode())
        self.now = INITIAL_SYNC_WINDOW + 1  # past the initial sync

    def snapshot(self) -> tuple[pd.DataFrame, list[str]]:
        entry = self.store.get("default", KEY)
        assert entry is not None
        return entry.frame.copy(), self.store.pairs("default")

    def feed(self, raw: str | bytes) -> None:
        """Hand ``raw`` to the session and apply its actions; only a ProtocolViolation
        (the frame is refused as a whole) may come out."""
        count("fuzz: messages fed to the consumer's session")
        try:
            actions = self.session.on_data(raw, self.now)
        except proto.ProtocolViolation:
            return
        for action in actions:
            if isinstance(action, StoreFrame):
                self.store.put("default", action.key, action.frame, action.analyzed_at, self.now)
            elif isinstance(action, SetPairs):
                self.store.set_pairs("default", action.pairs)
            else:
                assert isinstance(action, SendRequest), action
                assert proto.parse_request(action.text) is not None


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
        hub = MessageHub(source, ChannelPolicy.from_config())
        sock = RecordingSocket()
        channel = hub.open_channel(sock, "fuzz", Encoding.JSON)
        for raw in requests:
            channel.handle_request(raw)
        async with asyncio.timeout(10):  # replies may be encoded in a worker thread
            while channel.queue_depth and not channel.closed:
                await asyncio.sleep(0.001)
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


def _obj(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


# Requests built with the reply the protocol prescribes (docs/protocol.md), so the
# producer is checked against the specification, not against its own parser.
_not_null = json_values.filter(lambda v: v is not None)
_int64 = st.integers(-(2**63), 2**63 - 1)
_bad_limit = (
    st.integers(-(2**63), -1) | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
) | st.text(max_size=5)
_good_data = st.fixed_dictionaries(
    {},
    optional={
        "limit": st.none() | st.integers(0, 3000),
        "pair": st.none() | st.sampled_from(["BTC/USDT", "ETH/USDT"]),
    },
)
valid_requests = st.one_of(
    st.just((b'{"type":"whitelist"}', ["whitelist"])),
    _good_data.map(
        lambda d: (
            _obj({"type": "analyzed_df", "data": d}),
            ["analyzed_df"] if d.get("pair") in (None, "BTC/USDT") else [],
        )
    ),
    st.lists(st.sampled_from(sorted(proto.KNOWN_TYPES)), min_size=1, max_size=4).map(
        lambda types: (_obj({"type": "subscribe", "data": types}), [])
    ),
)
invalid_requests = st.one_of(
    # a proper prefix of a JSON object is never valid JSON
    st.tuples(valid_requests, st.data())
    .map(lambda vd: vd[0][0])
    .flatmap(lambda raw: st.integers(0, len(raw) - 1).map(lambda n: raw[:n])),
    (st.lists(json_values, max_size=3) | _int64 | st.text(max_size=5)).map(_obj),
    st.dictionaries(st.sampled_from(["data", "kind"]), json_values, max_size=2).map(_obj),
    st.text(min_size=1, max_size=12)
    .filter(lambda t: t not in ("subscribe", "whitelist", "analyzed_df"))
    .map(lambda t: _obj({"type": t})),
    _not_null.filter(lambda v: not isinstance(v, dict)).map(
        lambda v: _obj({"type": "analyzed_df", "data": v})
    ),
    _bad_limit.map(lambda v: _obj({"type": "analyzed_df", "data": {"limit": v}})),
    (_int64 | st.booleans() | st.lists(st.text(max_size=3), min_size=1)).map(
        lambda v: _obj({"type": "analyzed_df", "data": {"pair": v}})
    ),
    (st.text(min_size=1, max_size=5) | st.integers(1, 2**63 - 1) | st.just({"a": 1})).map(
        lambda v: _obj({"type": "subscribe", "data": v})
    ),
    st.lists(_int64 | st.none(), min_size=1, max_size=3).map(
        lambda v: _obj({"type": "subscribe", "data": ["whitelist", *v]})
    ),
).map(lambda raw: (raw, ["exception"]))


@FUZZ
@given(st.lists(valid_requests | invalid_requests, min_size=1, max_size=5))
def test_producer_answers_requests_as_the_protocol_prescribes(
    requests: list[tuple[bytes, list[str]]],
):
    sent, _, _ = run_requests([raw for raw, _ in requests])
    assert [orjson.loads(m)["type"] for m in sent] == [t for _, types in requests for t in types]


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
