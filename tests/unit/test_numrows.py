"""The C row parser: the same doubles as a correctly rounding JSON parser, or a refusal."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.messaging import codec_json
from candlecast.messaging.codec_json import decode_split, encode_split
from candlecast.testing import make_ohlcv

# the C module is optional (built at install when a compiler is there)
_numrows = pytest.importorskip("candlecast._numrows", reason="C module not built")

T = TypeVar("T")
R = TypeVar("R")
EXAMPLES = int(os.environ.get("CANDLECAST_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="CANDLECAST_FUZZ_EXAMPLES" not in os.environ,
)


def pure_path(function: Callable[[T], R], argument: T) -> R:
    """``function(argument)`` with the codec's C module switched off."""
    saved = codec_json._numrows
    codec_json._numrows = None
    try:
        return function(argument)
    finally:
        codec_json._numrows = saved


def parse(text: str, ncols: int) -> np.ndarray | None:
    result = _numrows.parse(text, 0, ncols)
    if result is None:
        return None
    packed, nrows, end, _ = result
    assert end == len(text)
    return np.frombuffer(packed, dtype=np.float64).reshape(nrows, ncols)


def reference(text: str) -> np.ndarray:
    return np.array(orjson.loads(text), dtype=np.float64)


def same_doubles(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit, so -0.0 differs from 0.0 and every NaN equals every NaN."""
    a, b = a.copy(), b.copy()
    a[np.isnan(a)] = np.nan
    b[np.isnan(b)] = np.nan
    return a.shape == b.shape and a.tobytes() == b.tobytes()


finite = st.floats(allow_nan=False, allow_infinity=False)
cell = st.one_of(finite, st.none(), st.integers(-(2**63), 2**63 - 1))


@FUZZ
@given(st.integers(1, 6).flatmap(lambda w: st.lists(st.lists(cell, min_size=w, max_size=w))))
def test_numbers_parse_to_the_doubles_orjson_gives(rows: list[list[object]]):
    if not rows:
        return
    text = orjson.dumps(rows).decode()
    assert same_doubles(parse(text, len(rows[0])), reference(text))


@pytest.mark.parametrize(
    "number",
    [
        "0",
        "-0",
        "-0.0",
        "-0e0",
        "1e5",
        "1E-3",
        "-2.5e+10",
        "3.141592653589793238462643383279",
        "0.000000000000000000000001234",
        "123456789012345678901234567890",
        "9007199254740993",
        "1e22",
        "1e23",
        "4.9406564584124654e-324",
        "2.2250738585072011e-308",
        "1.7976931348623157e308",
        "100.1251743553",
        "0.1",
        "1e-22",
        "8.98846567431158e307",
    ],
)
def test_awkward_numbers_are_correctly_rounded(number: str):
    text = f"[[{number},{number}]]"
    assert same_doubles(parse(text, 2), reference(text))


@pytest.mark.parametrize(
    "text",
    [
        '[["1.5"]]',
        "[[true]]",
        "[[[1]]]",
        "[[1],[2,3]]",
        "[[1,2]]",
        "[[01]]",
        "[[1.]]",
        "[[.5]]",
        "[[-]]",
        "[[1e]]",
        "[[NaN]]",
        "[[Infinity]]",
        "[[1]",
        "[[1],]",
        "[1]",
        "{}",
        "",
        "[[1] [2]]",
    ],
)
def test_anything_but_rows_of_numbers_is_refused(text: str):
    assert _numrows.parse(text, 0, 1) is None


def test_whitespace_between_tokens_is_allowed():
    text = "[ [ 1 , null ] ,\n [2.5,\t-3 ] ]"
    assert same_doubles(parse(text, 2), reference(text))


def test_every_cut_of_a_document_is_refused_without_reading_past_it():
    text = orjson.dumps([[1.25, None, -3e-7], [4, 5.5, 6]]).decode()
    for cut in range(len(text)):
        assert _numrows.parse(text[:cut], 0, 3) is None
    rng = random.Random(7)
    alphabet = b"[]0123456789.,-+eEnul \n"
    for _ in range(3000):
        noise = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        ncols = rng.randrange(1, 4)
        result = _numrows.parse(noise, 0, ncols)
        if result is not None:  # a valid document by chance: consistent with itself
            packed, nrows, end, _ = result
            assert len(packed) == 8 * nrows * ncols and 0 < end <= len(noise)
            expected = reference(noise[:end].decode())
            if nrows:
                assert same_doubles(np.frombuffer(packed).reshape(nrows, ncols), expected)
            else:
                assert expected.size == 0


@FUZZ
@given(st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_frames_decode_the_same_with_and_without_the_c_parser(rows: int, seed: int):
    frame = make_ohlcv(rows, "5m", seed=seed % 1000)
    rng = np.random.default_rng(seed)
    frame["ind"] = rng.normal(0, 10.0 ** rng.integers(-12, 12), rows)
    if rows:
        frame.loc[rng.random(rows) < 0.2, "ind"] = np.nan
    frame["enter_long"] = (rng.random(rows) < 0.3).astype(np.int64)
    document = encode_split(frame)
    fast = decode_split(document)
    slow = pure_path(decode_split, document)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)


@FUZZ
@given(
    st.integers(0, 30),
    st.integers(0, 2**32 - 1),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
)
def test_frames_encode_the_same_with_and_without_the_c_writer(
    rows: int, seed: int, extra: list[float]
):
    frame = make_ohlcv(rows, "5m", seed=seed % 1000)
    rng = np.random.default_rng(seed)
    frame["ind"] = rng.normal(0, 10.0 ** rng.integers(-14, 16), rows)
    values = np.array((extra + [0.5e-10] * rows)[:rows], dtype=np.float64)
    frame["edge"] = values  # ties, infinities, exponent-form values, -0.0
    frame["enter_long"] = rng.integers(-(2**62), 2**62, rows)
    frame["flag"] = rng.random(rows) < 0.5
    tags = ['long "dip"\\', "rsi<30 / bb", None, "ünïcode", "😀\u2028\x01"]
    frame["enter_tag"] = [tags[i] for i in rng.integers(0, len(tags), rows)]
    when = frame["date"].copy()
    if rows:
        when.iloc[rng.integers(0, rows)] = pd.NaT
    frame["when"] = when
    fast = encode_split(frame)
    slow = pure_path(encode_split, frame)
    assert fast == slow
    assert fast.decode() == codec_json.reference_encode(frame)


def test_a_typical_analyzed_frame_is_written_by_the_c_writer():
    frame = make_ohlcv(500, "5m", seed=3)
    frame["rsi"] = np.where(np.arange(500) < 14, np.nan, 55.123456789012)
    frame["enter_long"] = (np.arange(500) % 7 == 0).astype(np.int64)
    frame["enter_tag"] = np.where(frame["enter_long"] == 1, "rsi_cross", None)
    data = codec_json._format_rows_in_c(frame)
    assert data is not None
    assert encode_split(frame).decode() == codec_json.reference_encode(frame)
    assert b'"data":' + data in encode_split(frame)


def exact_ties() -> np.ndarray:
    """Doubles above 1e-5 whose 10-decimal rounding is an exact tie ((|v| - whole) * 1e10
    ends in .5 exactly), from 1e-5 to 1e15, negatives too, plus issue 16's example."""
    rng = np.random.default_rng(16)
    candidates = np.concatenate(
        [(2 * rng.integers(0, 2**20, 4000) + 1) / 2.0 ** (21 - e) for e in range(-16, 50)]
    )
    whole = np.trunc(candidates)
    scaled = (candidates - whole) * 1e10
    ties = candidates[(scaled - np.trunc(scaled) == 0.5) & (candidates >= 1e-5)]
    ties = np.concatenate([[0.75853373965, 1.00000000005, 0.12345678905], ties])
    return np.concatenate([ties, -ties])


@pytest.mark.parametrize("path", ["c", "python"])
def test_ties_are_rounded_as_pandas_rounds_them(path: str):
    values = exact_ties()
    assert len(values) > 1000
    frame = pd.DataFrame({"a": values, "b": values[::-1]})
    expected = frame.to_json(orient="split", double_precision=10)
    if path == "python":
        assert pure_path(encode_split, frame).decode() == expected
    else:
        assert encode_split(frame).decode() == expected
    assert '"data":[[0.7585337396,' in pure_path(encode_split, frame.iloc[:1]).decode()


def test_the_parser_reports_each_columns_token_classes():
    result = _numrows.parse("[[1,2.5,null,9007199254740993,-0],[3,1e5,2,1,4]]", 0, 5)
    assert result is not None
    flags = list(result[3])
    # bit 1: integer literal, 2: fraction/exponent, 4: null, 8: integer beyond 2**53
    assert flags == [1, 2, 5, 9, 1]
