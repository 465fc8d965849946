"""The protocol's small rules: times in UTC, request defaults, the answers to bad requests,
the binary analyzed_df message's fields, and one warning per left-out column.

test_protocol.py checks the same functions against frames captured from freqtrade.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from candlecast.domain.enums import CandleType
from candlecast.exceptions import ProtocolViolation
from candlecast.messaging import codec_binary
from candlecast.messaging import protocol as proto
from candlecast.testing import make_ohlcv

KEY = proto.PairKey("ETH/USDT", "1h", CandleType.SPOT)
LA = datetime(2026, 3, 1, 12, 30, 5, 250000, tzinfo=UTC)


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local zone set to UTC+9 for the test."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_la_is_written_in_utc_whatever_the_machines_zone(far_from_utc: None):
    tokyo = LA.astimezone(timezone(timedelta(hours=9)))
    assert proto.format_la(tokyo) == "2026-03-01T12:30:05.250000+00:00"
    assert proto.format_la(LA) == "2026-03-01T12:30:05.250000+00:00"


def test_an_la_without_a_zone_is_read_as_utc():
    assert proto.parse_la("2026-03-01T12:30:05.250000") == LA
    assert proto.parse_la("2026-03-01T12:30:05.250000").tzinfo is UTC
    assert proto.parse_la("2026-03-01T21:30:05.250000+09:00") == LA


def test_an_analyzed_df_request_without_data_asks_for_every_pair_in_full():
    assert proto.parse_request('{"type":"analyzed_df"}') == proto.AnalyzedDfRequest(None, None)
    assert proto.parse_request('{"type":"analyzed_df","data":null}') == proto.AnalyzedDfRequest(
        None, None
    )


def test_a_limit_of_zero_is_a_valid_request():
    raw = '{"type":"analyzed_df","data":{"limit":0,"pair":"BTC/USDT"}}'
    assert proto.parse_request(raw) == proto.AnalyzedDfRequest(0, "BTC/USDT")


# the producer answers these in an ``exception`` message: each names what it expected
@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("not json", "Invalid request: not valid JSON"),
        ("[1]", "Invalid request: expected an object with a string 'type'"),
        ('{"type":1}', "Invalid request: expected an object with a string 'type'"),
        (
            '{"type":"subscribe","data":"whitelist"}',
            "Invalid subscribe request: expected a list of message types",
        ),
        (
            '{"type":"subscribe","data":["whitelist",3]}',
            "Invalid subscribe request: expected a list of message types",
        ),
        (
            '{"type":"analyzed_df","data":[1]}',
            "Invalid analyzed_df request: expected data to be an object",
        ),
        (
            '{"type":"analyzed_df","data":{"limit":-1}}',
            "Invalid analyzed_df request: limit must be a non-negative integer",
        ),
        (
            '{"type":"analyzed_df","data":{"limit":true}}',
            "Invalid analyzed_df request: limit must be a non-negative integer",
        ),
        (
            '{"type":"analyzed_df","data":{"pair":["BTC/USDT"]}}',
            "Invalid analyzed_df request: pair must be a string or null",
        ),
    ],
)
def test_each_bad_request_is_answered_with_what_was_expected(raw: str, answer: str):
    with pytest.raises(ProtocolViolation) as info:
        proto.parse_request(raw)
    assert str(info.value) == answer


def test_a_long_unknown_request_type_is_cut_to_64_characters_in_the_answer():
    kind = "x" * 64 + "TAIL"
    with pytest.raises(ProtocolViolation) as info:
        proto.parse_request(f'{{"type":"{kind}"}}')
    assert str(info.value) == f"Invalid request type: {'x' * 64}"


def test_a_bad_la_is_refused_naming_the_field():
    for bad in (12, "yesterday"):
        with pytest.raises(ProtocolViolation, match="'la'"):
            proto.parse_la(bad)


def test_a_binary_analyzed_df_message_carries_key_analysis_and_send_times():
    frame = make_ohlcv(5, "1h")
    message = proto.parse_message(
        proto.encode_analyzed_df_binary(KEY, frame, LA), proto.Encoding.BINARY
    )
    assert isinstance(message, proto.AnalyzedDfMessage)
    assert message.key == KEY and message.analyzed_at == LA
    assert message.sent_at == LA.timestamp()  # sent when analyzed unless told otherwise
    pd.testing.assert_frame_equal(message.frame, frame)
    later = proto.encode_analyzed_df_binary(KEY, frame, LA, sent_at=LA.timestamp() + 1.5)
    assert proto.parse_message(later, proto.Encoding.BINARY).sent_at == LA.timestamp() + 1.5


def test_a_binary_frame_of_another_type_or_without_a_send_time_is_handled():
    frame = make_ohlcv(2, "1h")
    other = codec_binary.encode_frame(
        {"type": "whitelist", "key": ["ETH/USDT", "1h", "spot"]}, frame
    )
    with pytest.raises(ProtocolViolation, match="'whitelist'"):
        proto.parse_message(other, proto.Encoding.BINARY)
    meta = {"type": "analyzed_df", "key": ["ETH/USDT", "1h", "spot"], "la": proto.format_la(LA)}
    untimed = proto.parse_message(codec_binary.encode_frame(meta, frame), proto.Encoding.BINARY)
    assert isinstance(untimed, proto.AnalyzedDfMessage) and untimed.sent_at is None


def with_a_dict_column(n: int = 3) -> pd.DataFrame:
    """A frame with one column neither encoding can carry (dict values)."""
    frame = make_ohlcv(n, "1h")
    frame["blob"] = pd.Series([{"a": i} for i in range(n)], dtype=object)
    return frame


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_left_out_column_is_reported_once_per_pair_with_a_log_and_every_time_without(
    binary: bool, caplog: pytest.LogCaptureFixture
):
    encode = proto.encode_analyzed_df_binary if binary else proto.encode_analyzed_df_json
    other = proto.PairKey("BTC/USDT", "1h", CandleType.SPOT)
    log = proto.DroppedColumns()
    with caplog.at_level("WARNING", logger="candlecast.messaging.protocol"):
        for key in (KEY, KEY, other, KEY):
            raw = encode(key, with_a_dict_column(), LA, log)
        assert (
            "blob"
            not in proto.parse_message(
                raw, proto.Encoding.BINARY if binary else proto.Encoding.JSON
            ).frame.columns
        )
        with_log = [(r.args[0], r.args[1]) for r in caplog.records]
        caplog.clear()
        for _ in range(2):
            encode(KEY, with_a_dict_column(), LA)
        without_log = [(r.args[0], r.args[1]) for r in caplog.records]
    assert with_log == [("ETH/USDT", "blob"), ("BTC/USDT", "blob")]
    assert without_log == [("ETH/USDT", "blob")] * 2


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        (["A/B", "5m"], "expected key [pair, timeframe, candle_type], got ['A/B', '5m']"),
        (
            ["A/B", "5m", "spot", "x"],
            "expected key [pair, timeframe, candle_type], got ['A/B', '5m', 'spot', 'x']",
        ),
        ([5, "5m", "spot"], "expected key [pair, timeframe, candle_type], got [5, '5m', 'spot']"),
        (
            ["A/B", "", "spot"],
            "expected key [pair, timeframe, candle_type], got ['A/B', '', 'spot']",
        ),
        ("A/B 5m spot", "expected key [pair, timeframe, candle_type], got 'A/B 5m spot'"),
        (["A/B", "5m", "moon"], "unknown candle type 'moon'"),
    ],
)
def test_a_bad_key_is_refused_saying_what_a_key_is(value: object, answer: str):
    with pytest.raises(ProtocolViolation) as info:
        proto.key_from_wire(value)
    assert str(info.value) == answer


def test_a_key_travels_as_three_strings():
    assert proto.key_to_wire(KEY) == ["ETH/USDT", "1h", "spot"]
    assert proto.key_from_wire(("ETH/USDT", "1h", "spot")) == KEY


def test_every_left_out_column_of_a_pair_is_reported_once(caplog: pytest.LogCaptureFixture):
    log = proto.DroppedColumns()
    frame = with_a_dict_column()
    wider = frame.assign(more=frame["blob"])
    with caplog.at_level("WARNING", logger="candlecast.messaging.protocol"):
        proto.encode_analyzed_df_binary(KEY, frame, LA, log)
        proto.encode_analyzed_df_binary(KEY, wider, LA, log)
        proto.encode_analyzed_df_binary(KEY, wider, LA, log)
    assert [(r.args[0], r.args[1]) for r in caplog.records] == [
        ("ETH/USDT", "blob"),
        ("ETH/USDT", "more"),
    ]
