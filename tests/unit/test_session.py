"""The consumer session and the producer's broadcast planner, together and without I/O.

A model producer analyzes, trims its window, restarts; its broadcasts go through the
real planner and codecs, some are lost; the consumer reconnects now and then. Whenever
the consumer has heard the producer's latest analysis, its copy must hold exactly the
producer's rows (every value, dtype and column), ending on the producer's last candle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.broadcast import plan_broadcast
from candlecast.messaging.session import (
    INITIAL_SYNC_WINDOW,
    REQUEST_EXPIRY,
    Action,
    Close,
    ConsumerSession,
    SendPing,
    SendRequest,
    SessionSettings,
    SetPairs,
    StoreFrame,
)
from candlecast.testing import make_ohlcv

KEY = PairKey("BTC/USDT", "5m", CandleType.SPOT)
START = datetime(2026, 1, 5, tzinfo=UTC)
STEP_SECONDS = 300.0


def history(rows: int = 400) -> pd.DataFrame:
    """Every candle the model producer will ever have, analyzed (rows depend only on their
    candle). Values have 6 decimals, so freqtrade's JSON (10 digits) carries them exactly."""
    frame = make_ohlcv(rows, "5m")
    prices = ["open", "high", "low", "close", "volume"]
    frame[prices] = frame[prices].round(6)
    frame["rsi"] = ((frame["close"] * 7.0) % 100.0).round(6)
    frame["enter_long"] = (frame.index % 3 == 0).astype(np.int64)
    frame["exit_long"] = (frame.index % 5 == 0).astype(np.int64)
    return frame


HISTORY = history()


@dataclass
class ModelProducer:
    """The producer's analyzed frame is ``HISTORY[lo:hi]`` (plus a column after some restarts)."""

    lo: int
    hi: int
    extra_column: bool = False
    previous_last: pd.Timestamp | None = None
    encoding: proto.Encoding = proto.Encoding.JSON  # what the connection negotiated
    first_date: pd.Timestamp | None = None

    def reference(self) -> pd.DataFrame:
        frame = HISTORY.copy()
        if self.extra_column:
            frame["v2"] = (frame["close"] * 2.0).round(6)
        return frame

    def frame(self) -> pd.DataFrame:
        return self.reference().iloc[self.lo : self.hi].reset_index(drop=True)

    def analyzed_at(self) -> datetime:
        return START + timedelta(minutes=5 * self.hi, seconds=1)

    def encode(self, part: pd.DataFrame) -> str | bytes:
        data = proto.encode_analyzed_df(self.encoding, KEY, part, self.analyzed_at())
        return self.encoding.frame(data)

    def analyze(self) -> str | bytes:
        """One analysis: the broadcast the planner chooses."""
        frame = self.frame()
        last = frame["date"].iloc[-1]
        is_new = self.previous_last is None or last > self.previous_last
        window_moved = self.first_date not in (None, frame["date"].iloc[0])
        part = plan_broadcast(frame, self.previous_last, is_new, window_moved)
        self.previous_last = last
        self.first_date = frame["date"].iloc[0]
        return self.encode(part)

    def answer(self, text: str) -> list[str | bytes]:
        request = proto.parse_request(text)
        if isinstance(request, proto.WhitelistRequest):
            return [proto.encode_whitelist([KEY.pair]).decode()]
        if isinstance(request, proto.AnalyzedDfRequest) and request.pair in (None, KEY.pair):
            frame = self.frame()
            return [self.encode(frame.tail(request.limit) if request.limit else frame)]
        return []


@dataclass
class Consumer:
    session: ConsumerSession = field(default_factory=ConsumerSession)
    store: ProducerStore = field(default_factory=ProducerStore)
    now: float = 0.0

    def apply(self, actions: list[Action], producer: ModelProducer) -> None:
        """Carry out actions; the producer answers every request at once, in order."""
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            if isinstance(action, StoreFrame):
                self.store.put("default", action.key, action.frame, action.analyzed_at, self.now)
            elif isinstance(action, SetPairs):
                self.store.set_pairs("default", action.pairs)
            elif isinstance(action, SendRequest):
                for reply in producer.answer(action.text):
                    queue.extend(self.session.on_data(reply, self.now))
            elif isinstance(action, SendPing):
                queue.extend(self.session.on_pong(self.now))  # the producer is alive
            else:
                raise AssertionError(f"unexpected action {action}")

    def connect(self, producer: ModelProducer) -> None:
        self.session.on_close()
        self.apply(self.session.on_open(self.now, producer.encoding), producer)

    def copy(self) -> pd.DataFrame:
        entry = self.store.get("default", KEY)
        assert entry is not None, "the consumer holds no copy"
        return entry.frame


def assert_copy_exact(consumer: Consumer, producer: ModelProducer) -> None:
    """The copy is the producer's rows up to its last candle, every value exactly."""
    ours = consumer.copy().reset_index(drop=True)
    theirs = producer.frame()
    assert len(ours) >= len(theirs), f"copy has {len(ours)} rows, producer {len(theirs)}"
    expected = producer.reference().iloc[producer.hi - len(ours) : producer.hi]
    pd.testing.assert_frame_equal(ours, expected.reset_index(drop=True), check_exact=True)
    assert consumer.store.pairs("default") == [KEY.pair]


steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(1, 3), st.booleans()),
        st.tuples(st.just("reanalyze"), st.just(0), st.booleans()),
        st.tuples(st.just("trim"), st.integers(1, 40), st.booleans()),
        st.tuples(st.just("reconnect"), st.just(0), st.just(True)),
        st.tuples(st.just("restart"), st.integers(0, 1), st.just(True)),
        st.tuples(st.just("pause"), st.integers(1, 5), st.just(True)),
    ),
    max_size=15,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start_rows=st.integers(20, 200), encoding=st.sampled_from(proto.Encoding), plan=steps)
def test_consumer_copy_equals_producer_through_losses_and_reconnects(
    start_rows: int, encoding: proto.Encoding, plan: list[tuple[str, int, bool]]
):
    producer = ModelProducer(lo=0, hi=start_rows, encoding=encoding)
    consumer = Consumer()
    producer.analyze()  # broadcast before anyone listens
    consumer.connect(producer)
    assert_copy_exact(consumer, producer)
    heard_latest = True
    for op, n, delivered in plan:
        consumer.now += STEP_SECONDS
        if op == "pause":  # quiet time: requests expire, nothing else happens
            consumer.now += n * REQUEST_EXPIRY
            consumer.apply(consumer.session.on_tick(consumer.now), producer)
            continue
        if op in ("reconnect", "restart"):
            if op == "restart":
                producer.previous_last = None
                producer.first_date = None
                producer.extra_column = producer.extra_column or bool(n)
                producer.analyze()  # its first analysis goes to no one
            consumer.connect(producer)
            heard_latest = True
        else:
            if op == "advance":
                producer.hi = min(producer.hi + n, len(HISTORY))
            elif op == "trim":
                # a producer keeps at least 100 candles when it trims (candlecast's keep 1500)
                producer.lo = min(producer.lo + n, max(producer.lo, producer.hi - 100))
                producer.hi = min(producer.hi + 1, len(HISTORY))
            raw = producer.analyze()
            if delivered:
                consumer.apply(consumer.session.on_data(raw, consumer.now), producer)
            heard_latest = delivered or (op == "reanalyze" and heard_latest)
        if heard_latest:
            assert_copy_exact(consumer, producer)
    # a last delivered analysis always brings the copy up to date
    consumer.now += STEP_SECONDS
    producer.hi = min(producer.hi + 1, len(HISTORY))
    consumer.apply(consumer.session.on_data(producer.analyze(), consumer.now), producer)
    assert_copy_exact(consumer, producer)


# ---------------------------------------------------------------------- session rules


def session_with_frame(rows: int = 120) -> tuple[ConsumerSession, pd.DataFrame]:
    session = ConsumerSession()
    session.on_open(0.0)
    frame = HISTORY.iloc[:rows].reset_index(drop=True)
    message = proto.AnalyzedDfMessage(KEY, frame, START)
    actions = session.on_message(message, INITIAL_SYNC_WINDOW + 1)
    assert [type(a) for a in actions] == [StoreFrame]
    return session, frame


def analyzed(rows: slice) -> proto.AnalyzedDfMessage:
    return proto.AnalyzedDfMessage(KEY, HISTORY.iloc[rows], START)


def test_open_sends_freqtrades_three_requests_in_order():
    texts = [a.text for a in ConsumerSession().on_open(0.0) if isinstance(a, SendRequest)]
    assert texts == [
        '{"type":"subscribe","data":["whitelist","analyzed_df"]}',
        '{"type":"whitelist"}',
        '{"type":"analyzed_df","data":{"limit":1500,"pair":null}}',
    ]


def test_a_gap_asks_once_until_answered_or_expired():
    session, _ = session_with_frame()
    now = INITIAL_SYNC_WINDOW + 2
    first = session.on_message(analyzed(slice(122, 123)), now)
    assert first == [
        SendRequest('{"type":"analyzed_df","data":{"limit":4,"pair":"BTC/USDT"}}', first[0].reason)
    ]
    assert session.on_message(analyzed(slice(123, 124)), now + 1) == []  # still outstanding
    assert session.outstanding(now + 1) == ["BTC/USDT"]
    session.on_tick(now + REQUEST_EXPIRY)
    assert session.outstanding(now + REQUEST_EXPIRY) == []
    again = session.on_message(analyzed(slice(124, 125)), now + REQUEST_EXPIRY + 1)
    assert [type(a) for a in again] == [SendRequest]


def test_a_quiet_producer_is_pinged_then_closed_without_handshake():
    session = ConsumerSession(SessionSettings(wait_timeout=10, ping_timeout=2))
    session.on_open(0.0)
    assert session.next_deadline() == 10
    assert session.on_tick(9.9) == []
    assert session.on_tick(10.0) == [SendPing()]
    assert session.next_deadline() == 12
    [close] = session.on_tick(12.0)
    assert isinstance(close, Close) and close.abort and "no pong within 2 s" in close.reason


def test_a_pong_or_any_message_keeps_the_connection():
    session = ConsumerSession(SessionSettings(wait_timeout=10, ping_timeout=2))
    session.on_open(0.0)
    assert session.on_tick(10.0) == [SendPing()]
    session.on_pong(11.0)
    assert session.on_tick(12.0) == []
    assert session.next_deadline() == 21
    session.on_data('{"type":"status","data":"x"}', 20.0)
    assert session.on_tick(21.0) == []


def test_an_empty_whitelist_is_ignored():
    session = ConsumerSession()
    assert session.on_data('{"type":"whitelist","data":["A/B"]}', 0.0) == [SetPairs(("A/B",))]
    assert session.on_data('{"type":"whitelist","data":[]}', 1.0) == []


@pytest.mark.parametrize("rows", [1, 50, 99])
def test_a_small_first_frame_asks_for_the_full_frame_unless_it_answers_us(rows: int):
    session = ConsumerSession()
    session.on_open(0.0)
    late = INITIAL_SYNC_WINDOW + 1
    [ask] = session.on_message(analyzed(slice(200 - rows, 200)), late)
    assert isinstance(ask, SendRequest) and '"limit":1500' in ask.text
    [store] = session.on_message(analyzed(slice(200 - rows, 200)), late + 1)
    assert isinstance(store, StoreFrame) and len(store.frame) == rows


# ---------------------------------------------------------------------- the planner


def test_planner_sends_the_whole_frame_first_and_after_the_window_moved():
    frame = HISTORY.iloc[:150].reset_index(drop=True)
    pd.testing.assert_frame_equal(plan_broadcast(frame, None, True, False), frame)
    last = frame["date"].iloc[-2]
    pd.testing.assert_frame_equal(plan_broadcast(frame, last, True, True), frame)


def test_planner_sends_only_the_new_candles_or_the_reanalyzed_last_one():
    frame = HISTORY.iloc[:150].reset_index(drop=True)
    previous = frame["date"].iloc[146]
    pd.testing.assert_frame_equal(plan_broadcast(frame, previous, True, False), frame.iloc[147:])
    last = frame["date"].iloc[-1]
    pd.testing.assert_frame_equal(plan_broadcast(frame, last, False, False), frame.iloc[149:])
