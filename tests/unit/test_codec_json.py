"""The freqtrade-compatible encoding: byte-identical to pandas, decoded like freqtrade."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.messaging.codec_json import (
    decode_split,
    encode_split,
    pandas_float,
    reference_decode,
    reference_encode,
)
from candlecast.testing import make_ohlcv

EXAMPLES = int(os.environ.get("CANDLECAST_FUZZ_EXAMPLES", "300"))
# make test draws the same examples every run (no flaky CI); make fuzz draws new ones
DERANDOMIZE = "CANDLECAST_FUZZ_EXAMPLES" not in os.environ

EDGE_FLOATS = [
    0.0,
    -0.0,
    0.1 + 0.2,
    1e-5,
    1.234e-7,
    1e-11,
    1e-15,
    9e-16,
    1e15,
    1e16,
    1.5e16,
    1e17,
    -1.5e16,
    123456789.123456789,
    524287.9999999999,
    0.00012345678901,
    99999999999.99999999,
    1 / 3,
    2 / 3,
    0.5e-10,
    1.5e-10,
    2.5e-10,
    -12.34,
    5e-324,
    -5e-324,
    1.7976931348623157e308,
    2.0**53,
    12345678901234.56789,
    -1e-11,
]


def test_every_edge_float_renders_like_pandas():
    frame = pd.DataFrame({"a": EDGE_FLOATS})
    assert encode_split(frame).decode() == reference_encode(frame)
    for value in EDGE_FLOATS:
        assert (
            pandas_float(value)
            == reference_encode(pd.DataFrame({"a": [value]})).split('"data":[[')[1][:-3]
        )


def analyzed_frame(n: int = 60) -> pd.DataFrame:
    frame = make_ohlcv(n, seed=5)
    frame["rsi"] = np.linspace(0, 100, n)
    frame.loc[:9, "rsi"] = np.nan
    frame["big"] = frame["volume"] * 1e6
    frame["inf"] = np.where(np.arange(n) % 7 == 0, np.inf, -np.inf)
    frame["enter_long"] = (np.arange(n) % 5 == 0).astype(np.int64)
    frame["exit_long"] = 0
    frame["enter_tag"] = pd.array([None if i % 3 else f"tag{i}" for i in range(n)], dtype="str")
    frame["flag"] = np.arange(n) % 2 == 0
    return frame


def test_typical_analyzed_frame_is_byte_identical_to_pandas():
    frame = analyzed_frame()
    assert encode_split(frame).decode() == reference_encode(frame)


def test_nat_dates_and_non_default_index_are_byte_identical():
    frame = analyzed_frame(12)
    frame.loc[3, "date"] = pd.NaT
    frame.index = pd.Index(range(100, 112))
    assert encode_split(frame).decode() == reference_encode(frame)
    frame.index = pd.Index([f"r{i}" for i in range(12)])
    assert encode_split(frame).decode() == reference_encode(frame)


def test_decode_matches_what_freqtrade_decodes():
    frame = analyzed_frame()
    text = reference_encode(frame)
    ours = decode_split(text)
    theirs = reference_decode(text)
    pd.testing.assert_frame_equal(ours, theirs, check_index_type="equiv", check_column_type=False)


def test_decode_restores_the_analyzed_frame_up_to_rounding():
    frame = make_ohlcv(200, seed=9)
    frame["enter_long"] = 0
    decoded = decode_split(encode_split(frame))
    assert decoded["date"].dtype == frame["date"].dtype
    pd.testing.assert_frame_equal(decoded, frame, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize(
    "document",
    [
        b"[]",
        b'{"columns": ["a"], "index": [0], "data": [[1, 2]]}',
        b'{"columns": ["a", "a"], "index": [0], "data": [[1, 2]]}',
        b'{"columns": ["a"], "index": [0, 1], "data": [[1]]}',
        b'{"columns": [1.5], "index": [0], "data": [[1]]}',
        b'{"columns": [true], "index": [0], "data": [[1]]}',
        b'{"columns": ["a"], "index": [0], "data": [[[1]]]}',
        b'{"columns": ["a"], "index": [0], "data": 5}',
    ],
)
def test_malformed_documents_are_protocol_violations(document: bytes):
    from candlecast.exceptions import ProtocolViolation

    with pytest.raises(ProtocolViolation):
        decode_split(document)


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE)
@given(
    st.lists(finite, min_size=1, max_size=30),
    st.lists(st.integers(-(2**53), 2**53), min_size=1, max_size=30),
)
def test_property_float_and_int_columns_encode_like_pandas(floats: list[float], ints: list[int]):
    n = min(len(floats), len(ints))
    frame = pd.DataFrame({"f": floats[:n], "i": np.array(ints[:n], dtype=np.int64)})
    assert encode_split(frame).decode() == reference_encode(frame)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=-1e12, max_value=1e12).filter(lambda v: v == 0 or abs(v) >= 1e-300),
            st.just(float("nan")),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_property_decode_equals_reference_decoder(values: list[float]):
    # Denormals (below ~1e-308) are left out: pandas' default, imprecise parser reads them
    # as 0 and then infers int64; candlecast keeps the float.
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2026-01-01", periods=len(values), freq="1min", tz="UTC").as_unit(
                "us"
            ),
            "x": values,
        }
    )
    text = reference_encode(frame)
    ours, theirs = decode_split(text), reference_decode(text)
    # freqtrade's reader makes a whole-number float column int64; candlecast keeps float64
    if theirs["x"].dtype == np.int64:
        theirs["x"] = theirs["x"].astype(np.float64)
    pd.testing.assert_frame_equal(ours, theirs, check_index_type="equiv")


def test_pandas_float_handles_non_finite():
    assert pandas_float(math.nan) == pandas_float(math.inf) == "null"


def test_strings_and_column_names_are_escaped_like_pandas():
    frame = make_ohlcv(6, "5m")
    frame["close/1h"] = frame["close"] * 2
    frame["rsi_ü"] = 50.0
    frame["enter_tag"] = ["a/b", "ünï", '"q"', "back\\slash", None, "😀"]
    assert encode_split(frame).decode() == reference_encode(frame)
    decoded = decode_split(encode_split(frame))
    assert list(decoded.columns) == list(frame.columns)
    assert decoded["enter_tag"].tolist()[:4] == ["a/b", "ünï", '"q"', "back\\slash"]


def test_the_python_writer_is_byte_identical_too_for_nat_dates_and_narrow_dtypes():
    from candlecast.messaging import codec_json

    frame = analyzed_frame(12)
    frame.loc[3, "date"] = pd.NaT  # null in "date"
    frame["seen"] = frame["date"].astype("datetime64[ns, UTC]")  # the int64 minimum elsewhere
    frame["f32"] = np.linspace(0.1, 1.2, 12, dtype=np.float32)
    frame["i32"] = np.arange(12, dtype=np.int32)
    saved = codec_json._numrows
    codec_json._numrows = None  # the writer used when the C module is not built
    try:
        text = encode_split(frame).decode()
    finally:
        codec_json._numrows = saved
    assert text == reference_encode(frame)
