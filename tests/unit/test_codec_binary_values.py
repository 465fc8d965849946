"""The binary encoding value by value: object cells, dtypes, left-out columns, bad headers.

test_codec_binary.py round-trips a rich frame; test_wire_dtypes.py fuzzes dtypes through a
merge. This file pins each rule of codec_binary.py on its own.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from candlecast.exceptions import ProtocolViolation
from candlecast.messaging.codec_binary import MAGIC, decode_frame, encode_frame

STAMP = pd.Timestamp("2026-02-03 04:05:06.789", tz="Europe/Paris")


def round_trip(frame: pd.DataFrame, dropped: list[tuple[Any, str]] | None = None) -> pd.DataFrame:
    _, decoded = decode_frame(encode_frame({"type": "analyzed_df"}, frame, dropped))
    return decoded


def same_cell(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and (a is b or a == b)


def test_object_cells_travel_exactly_special_values_included():
    cells = [
        None,
        "text",
        True,
        7,
        2**64 - 1,
        -(2**63),
        1.25,
        float("nan"),
        float("inf"),
        float("-inf"),
        pd.NA,
        pd.NaT,
        STAMP,
        pd.Timestamp("2026-02-03 04:05:06.000000123"),
    ]
    frame = pd.DataFrame({"o": pd.Series(cells, dtype=object)})
    decoded = round_trip(frame)["o"].tolist()
    assert len(decoded) == len(cells)
    for sent, got in zip(cells, decoded, strict=True):
        assert same_cell(sent, got), (sent, got)
    assert decoded[12].tz is not None and str(decoded[12].tz) == "Europe/Paris"
    assert decoded[13].tz is None and decoded[13].value == cells[13].value


def test_numpy_scalars_in_object_columns_arrive_as_python_values():
    frame = pd.DataFrame(
        {
            "o": pd.Series(
                [np.int64(3), np.float64(0.5), np.bool_(True), np.float64("nan")], dtype=object
            )
        }
    )
    decoded = round_trip(frame)["o"].tolist()
    assert [type(v) for v in decoded] == [int, float, bool, float]
    assert decoded[:3] == [3, 0.5, True] and math.isnan(decoded[3])


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (2**64, "holds integer 18446744073709551616 beyond 64 bits"),
        (-(2**63) - 1, "holds integer -9223372036854775809 beyond 64 bits"),
        ({"a": 1}, "holds a value of type dict"),
        (Decimal("1.5"), "holds a value of type Decimal"),
    ],
)
def test_an_object_column_with_a_value_that_cannot_travel_is_left_out(cell: Any, reason: str):
    frame = pd.DataFrame(
        {"a": [1.0, 2.0], "bad": pd.Series([None, cell], dtype=object), "b": [3, 4]}
    )
    dropped: list[tuple[Any, str]] = []
    decoded = round_trip(frame, dropped)
    assert dropped == [("bad", reason)]
    pd.testing.assert_frame_equal(decoded, frame[["a", "b"]])
    pd.testing.assert_frame_equal(round_trip(frame), frame[["a", "b"]])  # no list: no report


def test_a_column_of_a_dtype_without_an_encoding_is_left_out_naming_the_dtype():
    frame = pd.DataFrame({"c": pd.Categorical(["x", "y"]), "v": [1, 2]})
    dropped: list[tuple[Any, str]] = []
    decoded = round_trip(frame, dropped)
    assert dropped == [("c", "holds dtype category")]
    assert list(decoded.columns) == ["v"]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_datetime_columns_keep_unit_zone_and_instant(unit: str, tz: str | None):
    dates = pd.Series(
        pd.to_datetime(["2026-01-01 00:00:00", "2026-07-01 12:30:00", None]).as_unit(unit)
    )
    if tz:
        dates = dates.dt.tz_localize("UTC").dt.tz_convert(tz)
    frame = pd.DataFrame({"date": dates, "x": [1.0, 2.0, 3.0]})
    decoded = round_trip(frame)
    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)
    assert decoded["date"].dtype == frame["date"].dtype


def test_timedelta_columns_keep_their_unit():
    frame = pd.DataFrame({"d": pd.to_timedelta([1, 2, None], unit="s").as_unit("ms")})
    decoded = round_trip(frame)
    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)


def test_nullable_and_string_columns_keep_their_missing_values():
    frame = pd.DataFrame(
        {
            "i": pd.array([1, None, -(2**63)], dtype="Int64"),
            "u": pd.array([None, 2, 3], dtype="UInt8"),
            "f": pd.array([0.5, None, 1.5], dtype="Float64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.array(["a", None, "c"], dtype="string"),
            "t": pd.array(["a", None, "c"], dtype="str"),
            "plain": np.array([4, 5, 6], dtype=np.int64),
            "plain8": np.array([7, 8, 9], dtype=np.uint8),
        }
    )
    decoded = round_trip(frame)
    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)


def test_columns_keep_their_order_across_interleaved_dtypes():
    frame = pd.DataFrame(
        {
            "a": np.arange(3, dtype=np.int64),
            "b": np.arange(3, dtype=np.float64),
            "c": pd.array([1, None, 3], dtype="Int64"),
            "d": np.arange(3, dtype=np.int64) * 2,
            "e": np.arange(3, dtype=np.float32),
            "f": np.arange(3, dtype=np.float64) * 3,
            "g": [True, False, True],
        }
    )
    decoded = round_trip(frame)
    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)
    assert list(decoded.columns) == list("abcdefg")


def test_a_non_range_index_and_a_shifted_range_index_travel():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=pd.RangeIndex(10, 16, 2))
    assert round_trip(frame).index.equals(pd.RangeIndex(10, 16, 2))
    frame.index = pd.Index([5, 1, 9])
    assert round_trip(frame).index.equals(pd.Index([5, 1, 9]))


def test_the_header_is_padded_so_blocks_start_8_byte_aligned():
    for name in ("a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"):
        data = encode_frame({"type": name}, pd.DataFrame({"x": [1.0]}))
        magic, head_len = struct.unpack_from("<4sI", data)
        assert magic == MAGIC and (8 + head_len) % 8 == 0
        assert len(data) == 8 + head_len + 8  # one float64 after the header


# ---------------------------------------------------------------- damaged headers


def rewrite(data: bytes, change) -> bytes:
    """``data`` with its JSON header changed by ``change(header)``; blocks kept."""
    _, head_len = struct.unpack_from("<4sI", data)
    header = orjson.loads(data[8 : 8 + head_len])
    change(header)
    head = orjson.dumps(header)
    head += b" " * ((-(len(head) + 8)) % 8)
    return struct.pack("<4sI", MAGIC, len(head)) + head + data[8 + head_len :]


def sample() -> bytes:
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0],
            "y": [3.0, 4.0],
            "i": pd.array([1, None], dtype="Int64"),
            "o": pd.Series(["p", None], dtype=object),
            "d": pd.to_datetime(["2026-01-01", "2026-01-02"]).as_unit("ms"),
            "t": pd.to_timedelta([1, 2], unit="s"),
        }
    )
    return encode_frame({"type": "analyzed_df"}, frame)


def _set(path: tuple, value: Any):
    def change(header: dict) -> None:
        node = header
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def test_rewriting_an_unchanged_header_still_decodes():
    _, frame = decode_frame(rewrite(sample(), lambda h: None))
    assert list(frame.columns) == ["x", "y", "i", "o", "d", "t"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (_set(("n",), -1), "bad shape"),
        (_set(("cols",), {}), "bad shape"),
        (_set(("blocks",), {}), "bad shape"),
        (lambda h: h["blocks"][0].__setitem__(0, "|O"), "block dtype |O"),
        (lambda h: h["blocks"][0].__setitem__(2, -8), "block exceeds the frame"),
        (lambda h: h["blocks"][0].__setitem__(1, 99), "block exceeds the frame"),
        (lambda h: h["cols"][1][4].__setitem__(1, 7), "column 'y' points outside its block"),
        (lambda h: h["cols"][1][4].__setitem__(1, -1), "column 'y' points outside its block"),
        (lambda h: h["cols"][1][4].__setitem__(1, 2), "column 'y' points outside its block"),
        (lambda h: h["cols"][1].__setitem__(2, "<i8"), "column 'y' dtype mismatch"),
        (lambda h: h["cols"][1].__setitem__(0, "x"), "duplicate column names"),
        (lambda h: h["obj"].__setitem__("o", ["p"]), "object column 'o' has the wrong length"),
        (lambda h: h["obj"].__setitem__("o", "pq"), "object column 'o' has the wrong length"),
        (
            lambda h: h["obj"].__setitem__("o", [{"$what": 1}, None]),
            "unknown object cell {'$what': 1}",
        ),
        (lambda h: h["cols"][2].__setitem__(3, h["cols"][2][4]), "column 'i' has no boolean mask"),
        (lambda h: h["cols"][2][4].__setitem__(1, 9), "column 'i' points outside its block"),
        # one past the last row: of a 1-row block, its mask, the 2-row block of d and t
        (lambda h: h["cols"][2][4].__setitem__(1, 1), "column 'i' points outside its block"),
        (lambda h: h["cols"][2][3].__setitem__(1, 1), "column 'i' points outside its block"),
        (lambda h: h["cols"][4][4].__setitem__(1, 2), "column 'd' points outside its block"),
        (lambda h: h["cols"][3].__setitem__(1, "z"), "unknown column kind 'z'"),
        (_set(("idx",), ["values", [1, 2, 3]]), "index length"),
        (lambda h: h["blocks"][0].__setitem__(0, "<U1"), "block dtype <U1"),
        (lambda h: h["cols"][5][4].__setitem__(1, 2), "column 't' points outside its block"),
        (lambda h: h.pop("n"), "'n'"),
    ],
)
def test_a_damaged_header_is_a_protocol_violation_naming_the_fault(change, complaint: str):
    with pytest.raises(ProtocolViolation) as info:
        decode_frame(rewrite(sample(), change))
    assert str(info.value) == f"binary frame: {complaint}"


def test_a_header_without_objects_or_index_uses_the_defaults():
    data = encode_frame({"type": "analyzed_df"}, pd.DataFrame({"x": [1.0, 2.0]}))

    def strip(header: dict) -> None:
        del header["obj"], header["idx"]

    meta, frame = decode_frame(rewrite(data, strip))
    assert meta == {"type": "analyzed_df"}
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"x": [1.0, 2.0]}))


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"CCB1\x00\x00\x00", "binary frame: shorter than its header"),
        (b"CCB2" + sample()[4:], "binary frame: unknown magic, expected CCB1"),
        (struct.pack("<4sI", MAGIC, 64) + b"{}", "binary frame: header length exceeds the frame"),
    ],
)
def test_a_frame_that_is_not_a_whole_ccb1_frame_is_refused_saying_so(data: bytes, answer: str):
    with pytest.raises(ProtocolViolation) as info:
        decode_frame(data)
    assert str(info.value) == answer
