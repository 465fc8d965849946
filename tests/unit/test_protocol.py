"""Requests and messages, checked against frames captured from freqtrade 2026.9."""

from __future__ import annotations

import json

import orjson
import pandas as pd
import pytest

from candlecast.domain.enums import CandleType
from candlecast.exceptions import ProtocolViolation
from candlecast.messaging import protocol as proto
from candlecast.messaging.codec_json import reference_decode
from candlecast.testing import make_ohlcv
from tests.conftest import VECTORS

CAPTURE = json.loads(VECTORS.read_text())
PROBE = CAPTURE["producer_probe"]


def full_frames() -> list[str]:
    return [f["frame"] for f in PROBE["received"] if "...<" not in f["frame"]]


def test_freqtrade_consumer_requests_parse():
    sent = [e["frame"] for e in CAPTURE["consumer_sniff"]["events"] if e.get("event") == "recv"]
    parsed = [proto.parse_request(s) for s in sent]
    assert parsed[0] == proto.SubscribeRequest(frozenset({"whitelist", "analyzed_df"}))
    assert parsed[1] == proto.WhitelistRequest()
    assert parsed[2] == proto.AnalyzedDfRequest(1500, None)
    assert parsed[3] == proto.AnalyzedDfRequest(1500, "BTC/USDT")


def test_our_initial_requests_are_what_freqtrade_sends():
    sent = [e["frame"] for e in CAPTURE["consumer_sniff"]["events"] if e.get("event") == "recv"][:3]
    assert [r.decode() for r in proto.initial_requests(1500)] == [
        sent[0],
        sent[1],
        '{"type":"analyzed_df","data":{"limit":1500,"pair":null}}',
    ]
    assert [orjson.loads(r) for r in proto.initial_requests(1500)] == [json.loads(s) for s in sent]


def test_unknown_request_type_is_answered_like_freqtrade():
    with pytest.raises(ProtocolViolation) as info:
        proto.parse_request('{"type":"foo","data":null}')
    assert (
        proto.encode_exception(str(info.value)).decode()
        == PROBE["smallest_full_example_per_type"]["exception"]["frame"]
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"type":"subscribe","data":["whitelist","liquidation_warning"]}',
            proto.SubscribeRequest(frozenset({"whitelist", "liquidation_warning"})),
        ),
        ('{"type":"subscribe","data":[]}', None),
        ('{"type":"analyzed_df","data":{}}', proto.AnalyzedDfRequest(None, None)),
        ('{"type":"analyzed_df","data":{"limit":99999}}', proto.AnalyzedDfRequest(1500, None)),
        ('{"type":"whitelist","data":null}', proto.WhitelistRequest()),
    ],
)
def test_request_edge_cases(raw: str, expected: object):
    assert proto.parse_request(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"data":1}',
        '{"type":"analyzed_df","data":{"limit":-1}}',
        '{"type":"analyzed_df","data":{"limit":"10"}}',
        '{"type":"analyzed_df","data":[1]}',
        '{"type":"subscribe","data":"whitelist"}',
        b"\xff\xfe",
    ],
)
def test_invalid_requests_raise(raw: str | bytes):
    with pytest.raises(ProtocolViolation):
        proto.parse_request(raw)


def test_captured_messages_parse():
    messages = [proto.parse_message(f) for f in full_frames()]
    kinds = {type(m).__name__ for m in messages}
    assert {"WhitelistMessage", "AnalyzedDfMessage", "NewCandleMessage", "OtherMessage"} <= kinds
    wl = next(m for m in messages if isinstance(m, proto.WhitelistMessage))
    assert wl.pairs == ("BTC/USDT", "ETH/USDT")
    df_msg = next(m for m in messages if isinstance(m, proto.AnalyzedDfMessage))
    assert df_msg.key == ("BTC/USDT", "5m", CandleType.SPOT)
    assert df_msg.analyzed_at.tzinfo is not None


def test_captured_dataframes_decode_like_freqtrade_and_re_encode_byte_identically():
    for frame in full_frames():
        obj = orjson.loads(frame)
        if obj["type"] != "analyzed_df":
            continue
        inner = obj["data"]["df"]["__value__"]
        ours = proto.parse_message(frame).frame
        pd.testing.assert_frame_equal(ours, reference_decode(inner), check_index_type="equiv")
        message = proto.parse_message(frame)
        again = proto.encode_analyzed_df_json(message.key, ours, message.analyzed_at).decode()
        assert again == frame


def test_analyzed_df_json_message_shape_matches_freqtrade():
    frame = make_ohlcv(3)
    key = ("BTC/USDT", "5m", CandleType.SPOT)
    la = pd.Timestamp("2026-11-25T13:44:01.609346", tz="UTC").to_pydatetime()
    obj = orjson.loads(proto.encode_analyzed_df_json(key, frame, la))
    assert obj["type"] == "analyzed_df"
    assert obj["data"]["key"] == ["BTC/USDT", "5m", "spot"]
    assert obj["data"]["la"] == "2026-11-25T13:44:01.609346+00:00"
    assert obj["data"]["df"]["__type__"] == "dataframe"
    assert isinstance(obj["data"]["df"]["__value__"], str)


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"whitelist","data":"BTC"}',
        '{"type":"analyzed_df","data":{"key":["A/B","5m"],"df":{"__type__":"dataframe","__value__":"{}"},"la":"x"}}',
        '{"type":"analyzed_df","data":{"key":["A/B","5m","spot"],"df":{"__type__":"x"},"la":"2026-01-01T00:00:00"}}',
        '{"type":"analyzed_df","data":{"key":["A/B","5m","moon"],"df":{"__type__":"dataframe","__value__":"{}"},"la":"2026-01-01T00:00:00"}}',
        '{"type":"new_candle","data":null}',
    ],
)
def test_malformed_messages_raise(raw: str):
    with pytest.raises(ProtocolViolation):
        proto.parse_message(raw)
