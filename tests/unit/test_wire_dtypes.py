"""A consumer's frame has the producer's dtypes: encode -> decode -> merge a 1-candle update.

Binary frames carry every dtype exactly; JSON frames give the dtypes freqtrade's reader
gives (with candlecast's fixes: float columns stay float64, integers are exact), and a
1-candle update merged into the stored frame gives the same frame as decoding it whole.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.data.merge import merge_update
from candlecast.domain.analyzed import PairKey
from candlecast.messaging import codec_json
from candlecast.messaging import protocol as proto
from candlecast.messaging.codec_binary import decode_frame, encode_frame
from candlecast.messaging.codec_json import decode_split, encode_split
from tests import golden

EXAMPLES = int(os.environ.get("CANDLECAST_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="CANDLECAST_FUZZ_EXAMPLES" not in os.environ,
)
INT64 = st.integers(-(2**63) + 1, 2**63 - 1)
UINT64 = st.integers(0, 2**64 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
STRINGS = st.text(max_size=6)
STAMPS = st.integers(0, 4_000_000_000_000)  # epoch ms up to 2096


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


# dtype name -> (strategy for one cell, builder of the column from the cells)
COLUMNS: dict[str, tuple[st.SearchStrategy[Any], Any]] = {
    "float64": (FLOATS, lambda v: np.array(v, dtype=np.float64)),
    "float32": (st.floats(width=32), lambda v: np.array(v, dtype=np.float32)),
    "int64": (INT64, lambda v: np.array(v, dtype=np.int64)),
    "int32": (st.integers(-(2**31), 2**31 - 1), lambda v: np.array(v, dtype=np.int32)),
    "uint8": (st.integers(0, 255), lambda v: np.array(v, dtype=np.uint8)),
    "uint64": (UINT64, lambda v: np.array(v, dtype=np.uint64)),
    "bool": (st.booleans(), lambda v: np.array(v, dtype=bool)),
    "Int64": (_maybe(INT64), lambda v: pd.array(v, dtype="Int64")),
    "boolean": (_maybe(st.booleans()), lambda v: pd.array(v, dtype="boolean")),
    "Float64": (
        _maybe(st.floats(allow_nan=False, allow_infinity=False)),
        lambda v: pd.array(v, dtype="Float64"),
    ),
    "str": (_maybe(STRINGS), lambda v: pd.array(v, dtype="str")),
    "object": (_maybe(STRINGS), lambda v: pd.Series(v, dtype=object).to_numpy()),
    "naive": (
        _maybe(STAMPS),
        lambda v: pd.to_datetime(pd.Series(v, dtype="float64"), unit="ms").astype("datetime64[us]"),
    ),
    "timedelta": (
        _maybe(st.integers(-(2**50), 2**50)),
        lambda v: pd.to_timedelta(pd.Series(v, dtype="float64"), unit="ms").astype(
            "timedelta64[us]"
        ),
    ),
    "zoned": (
        _maybe(STAMPS),
        lambda v: (
            pd.to_datetime(pd.Series(v, dtype="float64"), unit="ms", utc=True)
            .dt.tz_convert("Europe/Berlin")
            .astype("datetime64[us, Europe/Berlin]")
        ),
    ),
}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """A candle frame (5m UTC dates) with 1-6 extra columns of random dtypes and values."""
    rows = draw(st.integers(2, 8))
    dates = pd.date_range("2026-01-05", periods=rows, freq="5min", tz="UTC").as_unit("us")
    frame = pd.DataFrame({"date": dates})
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6))
    for i, kind in enumerate(kinds):
        cells, build = COLUMNS[kind]
        values = draw(st.lists(cells, min_size=rows, max_size=rows))
        column = build(values)
        frame[f"c{i}_{kind}"] = column.array if isinstance(column, pd.Series) else column
    return frame


def merged(stored: pd.DataFrame, update: pd.DataFrame) -> pd.DataFrame:
    result = merge_update(stored, update, "5m", requested=False)
    assert result.frame is not None, result.reason
    return result.frame


@FUZZ
@given(frames())
def test_binary_frames_carry_every_dtype_exactly_through_a_1_candle_merge(frame: pd.DataFrame):
    dropped: list[tuple[Any, str]] = []
    _, whole = decode_frame(encode_frame({}, frame, dropped))
    assert dropped == []
    pd.testing.assert_frame_equal(whole, frame, check_exact=True)
    _, stored = decode_frame(encode_frame({}, frame.iloc[:-1]))
    _, update = decode_frame(encode_frame({}, frame.iloc[-1:]))
    pd.testing.assert_frame_equal(merged(stored, update), frame, check_exact=True)


def json_dtype(column: pd.Series) -> str:
    """The dtype our JSON decoder gives a column the producer held as ``column``."""
    dtype, missing = column.dtype, bool(column.isna().any())
    name = str(dtype)
    if name in ("float64", "float32", "Float64"):
        return "float64"
    if name in ("int64", "int32", "uint8"):
        return "int64"
    if name == "uint64":
        return "uint64" if (column.to_numpy() > 2**63 - 1).any() else "int64"
    if name in ("Int64", "boolean"):
        return "float64" if missing else ("int64" if name == "Int64" else "bool")
    if name == "bool":
        return "bool"
    if name in ("str", "object"):
        return "float64" if column.isna().all() else "str"
    if name.startswith("timedelta"):
        return "float64" if missing else "int64"  # milliseconds, NaT as null
    return "int64"  # datetimes other than date: epoch ms (NaT as the int64 minimum)


def json_values(text: bytes, name: str, dtype: str) -> Any:
    """A column's values read from the text by Python's exact JSON parser."""
    document = json.loads(text)
    cells = [row[document["columns"].index(name)] for row in document["data"]]
    if dtype == "float64":
        return np.array([math.nan if c is None else float(c) for c in cells])
    if dtype == "str":
        return pd.array(cells, dtype="str")
    return np.array(cells, dtype=dtype)


@contextmanager
def codec_path(path: str) -> Iterator[None]:
    """The JSON codec with its C module ("c") or without it ("python")."""
    saved = codec_json._numrows
    if path == "python":
        codec_json._numrows = None
    try:
        yield
    finally:
        codec_json._numrows = saved


@pytest.mark.parametrize("path", ["c", "python"])
@FUZZ
@given(frame=frames())
def test_json_frames_keep_readers_dtypes_and_exact_values_through_a_1_candle_merge(
    path: str, frame: pd.DataFrame
):
    with codec_path(path):
        check_json_round_trip(frame)


def check_json_round_trip(frame: pd.DataFrame) -> None:
    text = encode_split(frame)
    whole = decode_split(text)
    for name in frame.columns[1:]:
        want = json_dtype(frame[name])
        assert str(whole[name].dtype) == want, name
        expected = pd.DataFrame({name: json_values(text, name, want)})
        golden.assert_exact(whole[[name]], expected, name)
    stored = decode_split(encode_split(frame.iloc[:-1]))
    update = decode_split(encode_split(frame.iloc[-1:]))
    golden.assert_exact(merged(stored, update), whole, "merged")


@pytest.mark.parametrize("path", ["c", "python"])
def test_a_bool_column_stays_bool_across_json_updates(path: str):
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2026-01-05", periods=120, freq="5min", tz="UTC").as_unit("us"),
            "close": np.linspace(1.0, 2.0, 120),
            "flag": np.arange(120) % 3 == 0,
        }
    )
    with codec_path(path):
        stored = decode_split(encode_split(frame.iloc[:100]))
        for i in range(100, 120):
            stored = merged(stored, decode_split(encode_split(frame.iloc[i : i + 1])))
    assert stored["flag"].dtype == bool
    assert (~stored["flag"]).tolist() == (~frame["flag"]).tolist()


def test_int64_beyond_2_53_is_exact_through_json():
    frame = pd.DataFrame({"i": np.array([2**53 + 1, -(2**63) + 1, 2**63 - 1], dtype=np.int64)})
    decoded = decode_split(encode_split(frame))
    assert decoded["i"].dtype == np.int64
    assert decoded["i"].tolist() == frame["i"].tolist()


def awkward_frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2026-01-05", periods=3, freq="5min", tz="UTC").as_unit("us"),
            "close": [1.5, 2.5, 3.5],
            "I": pd.array([1, None, 3], dtype="Int64"),
            "held": pd.to_timedelta([1, 2, 3], unit="min"),
            "blob": pd.Series([{"a": 1}, None, "x"], dtype=object),
            "big": pd.Series([2**70, 1, 2], dtype=object),
        }
    )
    return frame


@pytest.mark.parametrize("encoding", list(proto.Encoding), ids=str)
def test_columns_the_encoding_cannot_carry_are_left_out_with_one_warning_each(
    encoding: proto.Encoding, caplog: pytest.LogCaptureFixture
):
    from datetime import UTC, datetime

    from candlecast.domain.enums import CandleType

    key = PairKey(f"ODD-{encoding}/USDT", "5m", CandleType.SPOT)
    la = datetime(2026, 1, 5, tzinfo=UTC)
    dropped = proto.DroppedColumns()  # the producer's hub owns one
    with caplog.at_level("WARNING", logger="candlecast.messaging.protocol"):
        for _ in range(3):  # three candles: still one warning per column
            raw = proto.encode_analyzed_df(encoding, key, awkward_frame(), la, dropped)
    message = proto.parse_message(raw, encoding)
    assert isinstance(message, proto.AnalyzedDfMessage)
    left_out = {"blob", "big"}  # a dict, an integer beyond 64 bits
    assert list(message.frame.columns) == ["date", "close", "I", "held"]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == len(left_out)
    assert all(key[0] in text for text in warned)
    assert {name for name in left_out if any(repr(name) in text for text in warned)} == left_out
