"""The consumer session's clocks and boundaries, and the broadcast planner's edge cases.

Written from mutation testing (docs/reliability.md, "Mutation testing"): each test pins a
rule of :mod:`candlecast.messaging.session` or :mod:`candlecast.messaging.broadcast` that
the model-based tests in test_session.py pass through without checking it exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.exceptions import ProtocolViolation
from candlecast.messaging import protocol as proto
from candlecast.messaging.broadcast import plan_broadcast
from candlecast.messaging.session import (
    CLOSE_NO_PONG,
    INITIAL_SYNC_WINDOW,
    REQUEST_EXPIRY,
    Close,
    ConsumerSession,
    SendPing,
    SendRequest,
    SessionSettings,
    StoreFrame,
)
from candlecast.testing import make_ohlcv

KEY = PairKey("BTC/USDT", "5m", CandleType.SPOT)
AT = datetime(2026, 1, 5, tzinfo=UTC)
FRAMES = make_ohlcv(300, "5m")
OPENED = 1000.0  # a monotonic clock does not start at 0
LATE = OPENED + INITIAL_SYNC_WINDOW + 1  # past the initial sync window


def message(start: int, stop: int) -> proto.AnalyzedDfMessage:
    return proto.AnalyzedDfMessage(KEY, FRAMES.iloc[start:stop].reset_index(drop=True), AT)


def kinds(actions: list) -> list[type]:
    return [type(a) for a in actions]


def seeded(settings: SessionSettings | None = None) -> ConsumerSession:
    """A session holding candles 0..119 of FRAMES, past its initial sync window."""
    session = ConsumerSession(settings)
    session.on_open(OPENED)
    assert kinds(session.on_message(message(0, 120), LATE)) == [StoreFrame]
    return session


def with_gap_request(settings: SessionSettings | None = None) -> tuple[ConsumerSession, float]:
    """A seeded session that asked for missing candles at the returned time."""
    session = seeded(settings)
    sent = LATE + 1
    assert kinds(session.on_message(message(122, 123), sent)) == [SendRequest]
    return session, sent


# ---------------------------------------------------------------------- before open, after close


def test_a_session_never_opened_or_closed_has_no_deadline_and_never_pings():
    session = ConsumerSession(SessionSettings(wait_timeout=10, ping_timeout=2))
    assert session.next_deadline() is None
    assert session.on_tick(10_000.0) == []
    session.on_open(OPENED)
    session.on_close()
    assert session.next_deadline() is None
    assert session.on_tick(OPENED + 10_000.0) == []


# ---------------------------------------------------------------------- liveness


def test_a_malformed_frame_still_counts_as_hearing_from_the_producer():
    session = ConsumerSession(SessionSettings(wait_timeout=10, ping_timeout=2))
    session.on_open(OPENED)
    with pytest.raises(ProtocolViolation):
        session.on_data("not json", OPENED + 8)
    assert session.on_tick(OPENED + 10) == []
    assert session.next_deadline() == OPENED + 18


def test_no_close_before_the_ping_timeout_then_one_close_with_code_1011():
    session = ConsumerSession(SessionSettings(wait_timeout=10, ping_timeout=2))
    session.on_open(OPENED)
    assert session.on_tick(OPENED + 10) == [SendPing()]
    assert session.on_tick(OPENED + 11.9) == []
    [close] = session.on_tick(OPENED + 12)
    assert isinstance(close, Close) and close.code == CLOSE_NO_PONG == 1011 and close.abort
    # closed once: a driver that ticks again before closing gets no second Close
    assert Close not in kinds(session.on_tick(OPENED + 12))


# ---------------------------------------------------------------------- request expiry


def test_an_outstanding_request_is_the_next_deadline_until_it_expires():
    session, sent = with_gap_request(SessionSettings(wait_timeout=100))
    assert session.on_tick(sent + 1) == []
    assert session.outstanding(sent + 1) == ["BTC/USDT"]
    assert session.next_deadline() == sent + REQUEST_EXPIRY
    assert session.on_tick(sent + REQUEST_EXPIRY) == []
    assert session.next_deadline() == sent + 100  # only the quiet-producer deadline is left


def test_a_request_is_expired_exactly_request_expiry_seconds_after_it_was_sent():
    session = ConsumerSession()
    session.on_open(OPENED)
    [ask] = session.on_message(message(0, 20), LATE)  # nothing stored: ask for 1500
    assert isinstance(ask, SendRequest)
    expired = LATE + REQUEST_EXPIRY
    assert session.outstanding(expired - 0.001) == ["BTC/USDT"]
    assert session.outstanding(expired) == []
    # at that moment (no tick in between) a small frame is no answer: it asks again
    [again] = session.on_message(message(0, 20), expired)
    assert isinstance(again, SendRequest) and '"limit":1500' in again.text


def test_an_answered_request_is_no_longer_outstanding():
    session, sent = with_gap_request()
    [store] = session.on_message(message(119, 123), sent + 1)  # the answer: 4 candles
    assert isinstance(store, StoreFrame) and len(store.frame) == 123
    assert session.outstanding(sent + 1) == []
    # the next gap asks at once
    assert kinds(session.on_message(message(125, 126), sent + 2)) == [SendRequest]


# ---------------------------------------------------------------------- initial sync window


def test_a_small_first_frame_within_the_initial_window_seeds_the_store_without_asking():
    session = ConsumerSession()
    session.on_open(OPENED)
    [store] = session.on_message(message(0, 20), OPENED + INITIAL_SYNC_WINDOW - 0.5)
    assert isinstance(store, StoreFrame) and len(store.frame) == 20


def test_the_initial_window_ends_exactly_initial_sync_window_seconds_after_open():
    session = ConsumerSession()
    session.on_open(OPENED)
    [ask] = session.on_message(message(0, 20), OPENED + INITIAL_SYNC_WINDOW)
    assert isinstance(ask, SendRequest) and '"limit":1500' in ask.text


# ---------------------------------------------------------------------- the planner


def test_planner_sends_the_last_row_when_no_row_is_newer_than_the_previous_broadcast():
    frame = FRAMES.iloc[:50].reset_index(drop=True)
    last = frame["date"].iloc[-1]
    pd.testing.assert_frame_equal(plan_broadcast(frame, last, True, False), frame.iloc[49:])


def test_planner_sends_nothing_for_an_empty_frame():
    frame = FRAMES.iloc[:0]
    assert plan_broadcast(frame, FRAMES["date"].iloc[0], True, False).empty
