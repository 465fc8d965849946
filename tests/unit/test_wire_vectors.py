"""freqtrade 2026.9's wire texts (golden vectors, wire.json): we send the same bytes and
decode each text into the frame freqtrade's consumer obtains, dtypes included, except for
the deliberate differences named below (docs/compat.md, "Wire and dtypes")."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from candlecast.messaging import codec_json
from candlecast.messaging import protocol as proto
from tests import golden

WIRE = golden.load("wire")
INPUTS = WIRE["inputs"]
ANALYZED = {case["id"]: case for case in WIRE["analyzed_df"]}

ULP = (
    "freqtrade's reader (ujson without precise_float) is off by an ulp or more; "
    "candlecast reads every number correctly rounded"
)
WHOLE = (
    "freqtrade's reader makes a float column whose values are all whole numbers int64; "
    "candlecast keeps float64 (the text holds float literals, the producer had floats)"
)
# case id -> {column: reason}: columns where we decode differently on purpose; every other
# column of every case must equal freqtrade's decoded frame exactly
DELIBERATE: dict[str, dict[Any, str]] = {
    "analyzed_A_480_600": {"rsi": ULP},
    "analyzed_A_480_600_tags_none": {"rsi": ULP},
    "ohlcv_B_590_600": {"open": ULP, "high": ULP, "low": ULP, "close": ULP, "volume": WHOLE},
    "ohlcv_B_590_600/tail1": {"open": ULP, "high": ULP, "volume": WHOLE},
    "floats": {"tiny": ULP + " (4.940656458e-324 is 5e-324, not 0.0)", "precise": ULP},
    "floats/tail1": {"huge": WHOLE, "precise": ULP, "neg": WHOLE, "f32": WHOLE},
    "nullable/tail1": {"F": WHOLE},
    "misc_names": {5: WHOLE, "index": WHOLE},
    "misc_names/tail1": {5: WHOLE, "index": WHOLE},
    "no_date": {"x": WHOLE},
    "no_date/tail1": {"x": WHOLE},
}


@contextmanager
def codec_path(path: str) -> Iterator[None]:
    """Run the JSON codec with its C module ("c") or without it ("python")."""
    saved = codec_json._numrows
    if path == "python":
        codec_json._numrows = None
    elif saved is None:
        pytest.skip("candlecast._numrows is not built")
    try:
        yield
    finally:
        codec_json._numrows = saved


def input_frame(case: dict[str, Any]) -> pd.DataFrame:
    frame = golden.frame_ref({"frame": case["input"]["frame"]}, INPUTS)
    tail = case["input"].get("tail")
    return frame.tail(tail) if tail else frame


def inner_text(case: dict[str, Any]) -> str:
    value: str = json.loads(case["text"])["data"]["df"]["__value__"]
    return value


def correctly_rounded(case: dict[str, Any], column: Any) -> np.ndarray:
    """The column's numbers read by Python's (correctly rounding) JSON parser."""
    document = json.loads(inner_text(case))
    pos = document["columns"].index(column)
    return np.array(
        [math.nan if row[pos] is None else float(row[pos]) for row in document["data"]],
        dtype=np.float64,
    )


@pytest.mark.parametrize("path", ["c", "python"])
@pytest.mark.parametrize("case_id", list(ANALYZED))
def test_analyzed_df_text_is_freqtrades_byte_for_byte(case_id: str, path: str):
    case = ANALYZED[case_id]
    key = proto.key_from_wire(case["input"]["key"])
    la = datetime.fromisoformat(case["input"]["la"])
    with codec_path(path):
        text = proto.encode_analyzed_df_json(key, input_frame(case), la)
    assert text == case["text"].encode()


@pytest.mark.parametrize("path", ["c", "python"])
@pytest.mark.parametrize("case_id", list(ANALYZED))
def test_analyzed_df_decodes_to_freqtrades_frame(case_id: str, path: str):
    case = ANALYZED[case_id]
    decoded = case["decoded"]
    with codec_path(path):
        message = proto.parse_message(case["text"])
    assert isinstance(message, proto.AnalyzedDfMessage)
    assert message.key == proto.key_from_wire(decoded["key"])
    assert round(message.analyzed_at.timestamp() * 1_000_000) == decoded["la"]["epoch_us"]
    assert message.analyzed_at.utcoffset().total_seconds() == decoded["la"]["utcoffset_s"]
    expected = golden.decode(decoded["df"])
    ours = message.frame
    assert list(ours.columns) == list(expected.columns)
    golden.assert_index_equal(ours.index, expected.index, f"{case_id} index")
    different = DELIBERATE.get(case_id, {})
    for pos, name in enumerate(expected.columns):
        what = f"{case_id}[{name!r}]"
        if name in different:
            # our behaviour instead: float64, every value correctly rounded from the text
            assert ours.iloc[:, pos].dtype == np.float64, what
            golden.assert_exact(ours.iloc[:, pos].to_numpy(), correctly_rounded(case, name), what)
            continue
        golden.assert_exact(ours.iloc[:, [pos]], expected.iloc[:, [pos]].set_axis(ours.index), what)


def test_every_deliberate_difference_is_a_real_difference():
    """The list above holds no stale entry: freqtrade's frame differs in each named column."""
    for case_id, columns in DELIBERATE.items():
        case = ANALYZED[case_id]
        expected = golden.decode(case["decoded"]["df"])
        for name in columns:
            theirs = expected[name]
            ours = correctly_rounded(case, name)
            same_values = theirs.dtype == np.float64 and golden._floats_equal(
                theirs.to_numpy(), ours
            )
            assert not same_values, f"{case_id}[{name!r}] is no longer different"


@pytest.mark.parametrize("case", WIRE["whitelist"], ids=lambda c: c["id"])
def test_whitelist_text_and_decode(case: dict[str, Any]):
    assert proto.encode_whitelist(case["input"]) == case["text"].encode()
    message = proto.parse_message(case["text"])
    assert message == proto.WhitelistMessage(tuple(case["decoded"]["data"]))


@pytest.mark.parametrize("case", WIRE["other_messages"], ids=lambda c: c["id"])
def test_other_producer_messages(case: dict[str, Any]):
    assert case["id"] == "new_candle"
    key = proto.key_from_wire(case["decoded"]["data"])
    assert proto.encode_new_candle(key) == case["text"].encode()
    assert proto.parse_message(case["text"]) == proto.NewCandleMessage(key)


def _our_request(case_id: str) -> bytes:
    initial = proto.initial_requests(proto.MAX_CANDLE_LIMIT)
    if case_id.startswith("initial "):
        return initial[int(case_id.split()[1].rstrip(":")) - 1]
    match = re.fullmatch(r"follow-up analyzed_df limit=(\d+) pair=(.+)", case_id)
    assert match, f"unknown request case {case_id!r}"
    return proto.analyzed_df_request(int(match[1]), match[2])


@pytest.mark.parametrize("case", WIRE["requests"], ids=lambda c: c["id"])
def test_consumer_request_texts_are_freqtrades(case: dict[str, Any]):
    assert _our_request(case["id"]) == case["text"].encode()
