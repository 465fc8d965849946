"""Read freqtrade's golden vectors (``../shared/vectors/freqtrade-2026.9``) and compare exactly.

The vectors are data recorded by running freqtrade 2026.9; their README gives the encoding
this module decodes. Tests read them from the shared folder beside the checkout (never a
copy in the repository); ``CANDLECAST_VECTORS`` points elsewhere.

- :func:`load` returns one vector file, parsed once per test session.
- :func:`decode` turns an encoded DataFrame / Series / ndarray / index into the pandas or
  numpy object freqtrade had.
- :func:`frame_ref` resolves ``{"frame": NAME, "rows": [a, b]}`` references.
- :func:`assert_exact` compares two results bit for bit (NaN equal to NaN, ``-0.0`` distinct
  from ``0.0``), with dtypes, column order and index.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
VECTOR_DIR = Path(
    os.environ.get("CANDLECAST_VECTORS", ROOT.parent / "shared" / "vectors" / "freqtrade-2026.9")
)


@functools.cache
def load(name: str) -> dict[str, Any]:
    """One vector file (``"qtpylib"`` or ``"qtpylib.json"``), parsed."""
    path = VECTOR_DIR / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(
            f"golden vector file {path} is missing: the tests read freqtrade's vectors from "
            "../shared/vectors/freqtrade-2026.9 beside the checkout (or set CANDLECAST_VECTORS)"
        )
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def frames() -> dict[str, Any]:
    """The encoded input frames of ``frames.json`` by name."""
    result: dict[str, Any] = load("frames")["frames"]
    return result


# -- decoding ---------------------------------------------------------------------------------

_SPECIAL_FLOATS = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _float(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        return _SPECIAL_FLOATS[value]
    return float(value)


def _object_cell(value: Any) -> Any:
    if isinstance(value, dict):
        if "$float" in value:
            return _SPECIAL_FLOATS[value["$float"]]
        if value.get("$na"):
            return pd.NA
        if value.get("$nat"):
            return pd.NaT
        raise ValueError(f"unknown object cell {value!r}")
    return value


def decode_values(dtype: str, values: list[Any]) -> Any:
    """A column's values as an array (numpy or pandas extension) of ``dtype``."""
    if dtype.startswith("float"):
        return np.array([_float(v) for v in values], dtype="float64").astype(dtype)
    if dtype.startswith(("int", "uint")):
        return np.array(values, dtype=dtype)
    if dtype == "bool":
        return np.array(values, dtype=bool)
    if dtype.startswith("datetime64"):
        unit_tz = dtype[len("datetime64[") : -1]
        unit, _, tz = unit_tz.partition(", ")
        stamps = pd.to_datetime(
            [pd.NaT if v is None else v for v in values], unit="ms", utc=bool(tz)
        )
        if tz:
            return pd.DatetimeIndex(stamps).tz_convert(tz).as_unit(unit).array
        return pd.DatetimeIndex(stamps).as_unit(unit).array
    if dtype == "object":
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            out[i] = _object_cell(v)
        return out
    if dtype == "str":
        return pd.array(values, dtype="str")
    if dtype in ("Int64", "boolean", "Float64", "Int32", "UInt64"):
        return pd.array([pd.NA if v is None else v for v in values], dtype=dtype)
    raise ValueError(f"unknown dtype {dtype!r} in a golden vector")


def decode_index(obj: dict[str, Any]) -> pd.Index:
    kind = obj["type"]
    if kind == "RangeIndex":
        return pd.RangeIndex(obj["start"], obj["stop"], obj["step"])
    if kind in ("Index", "DatetimeIndex"):
        return pd.Index(decode_values(obj["dtype"], obj["values"]))
    raise ValueError(f"unknown index type {kind!r}")


def decode(obj: Any) -> Any:
    """A DataFrame / Series / ndarray / index in the vectors' encoding, decoded."""
    if not isinstance(obj, dict) or "type" not in obj:
        return obj
    kind = obj["type"]
    if kind == "DataFrame":
        index = decode_index(obj["index"])
        columns = obj["columns"]
        data = {
            i: pd.Series(
                decode_values(c["dtype"], c["values"]),
                index=index,
                copy=False,
                # pandas 3 would infer str from an object array of strings
                dtype=object if c["dtype"] == "object" else None,
            )
            for i, c in enumerate(columns)
        }
        frame = pd.DataFrame(data, index=index)
        frame.columns = pd.Index([c["name"] for c in columns], dtype=object)
        if all(isinstance(c["name"], str) for c in columns):
            frame.columns = pd.Index([c["name"] for c in columns])
        return frame
    if kind == "Series":
        return pd.Series(
            decode_values(obj["dtype"], obj["values"]),
            index=decode_index(obj["index"]),
            name=obj["name"],
            dtype=object if obj["dtype"] == "object" else None,
        )
    if kind == "ndarray":
        dtype = obj["dtype"]
        flat = np.asarray(obj["values"], dtype=object).ravel().tolist()
        arr = np.asarray(decode_values(dtype, flat))
        return arr.reshape(obj["shape"])
    if kind in ("RangeIndex", "Index", "DatetimeIndex"):
        return decode_index(obj)
    raise ValueError(f"unknown encoded type {kind!r}")


def frame_ref(ref: dict[str, Any], inputs: dict[str, Any] | None = None) -> pd.DataFrame:
    """Resolve ``{"frame": NAME, "rows": [a, b]}`` (an ``inputs`` entry or a frames.json frame);
    ``rows`` slices positionally and keeps the index labels, as ``iloc[a:b]``."""
    name = ref["frame"]
    encoded = (inputs or {}).get(name) or frames()[name]
    frame = _decoded_frame(json.dumps(encoded, sort_keys=True)) if inputs else _named_frame(name)
    if "rows" in ref:
        a, b = ref["rows"]
        frame = frame.iloc[a:b]
    return frame.copy()


@functools.cache
def _named_frame(name: str) -> pd.DataFrame:
    result: pd.DataFrame = decode(frames()[name])
    return result


@functools.cache
def _decoded_frame(text: str) -> pd.DataFrame:
    result: pd.DataFrame = decode(json.loads(text))
    return result


# -- comparing --------------------------------------------------------------------------------


def _floats_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    if a.shape != b.shape:
        return False
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    return bool(np.array_equal(a[~nan_a].view("int64"), b[~nan_b].view("int64")))


def _first_difference(a: Any, b: Any) -> str:
    for i, (x, y) in enumerate(zip(list(a), list(b), strict=False)):
        same = (x is y) or (
            isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)
        )
        if not same:
            try:
                same = bool(x == y) and (
                    not isinstance(x, float) or math.copysign(1, x) == math.copysign(1, y)
                )
            except (TypeError, ValueError):
                same = False
        if not same:
            return f"first difference at position {i}: got {x!r}, expected {y!r}"
    return f"lengths {len(a)} vs {len(b)}"


def _values_equal(actual: Any, expected: Any, dtype: Any) -> bool:
    kind = getattr(dtype, "kind", None)
    if kind == "f":
        return _floats_equal(actual, expected)
    if isinstance(dtype, pd.Float64Dtype):
        a, b = pd.array(actual, dtype="Float64"), pd.array(expected, dtype="Float64")
        if not np.array_equal(np.asarray(a.isna()), np.asarray(b.isna())):
            return False
        mask = ~np.asarray(a.isna())
        return _floats_equal(
            np.asarray(a[mask], dtype="float64"), np.asarray(b[mask], dtype="float64")
        )
    if str(dtype) == "object":
        if len(actual) != len(expected):
            return False
        for x, y in zip(actual, expected, strict=True):
            if type(x) is not type(y) and not (
                isinstance(x, float | np.floating) and isinstance(y, float | np.floating)
            ):
                return False
            if isinstance(x, float | np.floating):
                if not _floats_equal(np.array([x]), np.array([y])):
                    return False
            elif x is pd.NA or x is pd.NaT or x is None:
                if x is not y:
                    return False
            elif x != y:
                return False
        return True
    a_na = np.asarray(pd.isna(pd.Series(actual)))
    b_na = np.asarray(pd.isna(pd.Series(expected)))
    if not np.array_equal(a_na, b_na):
        return False
    a_vals = pd.Series(actual)[~a_na].tolist()
    b_vals = pd.Series(expected)[~b_na].tolist()
    return bool(a_vals == b_vals)


def _assert_column(actual: pd.Series, expected: pd.Series, what: str) -> None:
    assert str(actual.dtype) == str(expected.dtype), (
        f"{what}: dtype {actual.dtype} != expected {expected.dtype}"
    )
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, expected {len(expected)}"
    if not _values_equal(actual.array, expected.array, expected.dtype):
        raise AssertionError(
            f"{what}: values differ, {_first_difference(actual.tolist(), expected.tolist())}"
        )


def assert_index_equal(actual: pd.Index, expected: pd.Index, what: str = "index") -> None:
    if isinstance(expected, pd.RangeIndex):
        assert isinstance(actual, pd.RangeIndex), (
            f"{what}: {type(actual).__name__}, expected a RangeIndex {expected!r}"
        )
        assert actual.equals(expected), f"{what}: {actual!r} != {expected!r}"
        return
    _assert_column(pd.Series(actual), pd.Series(expected), what)


def assert_exact(actual: Any, expected: Any, what: str = "result") -> None:
    """Assert ``actual`` equals the decoded vector ``expected`` exactly: type, dtypes, column
    names and order, index, and every value bit for bit."""
    if isinstance(expected, pd.DataFrame):
        assert isinstance(actual, pd.DataFrame), f"{what}: {type(actual).__name__}, not DataFrame"
        assert list(actual.columns) == list(expected.columns), (
            f"{what}: columns {list(actual.columns)} != expected {list(expected.columns)}"
        )
        assert_index_equal(actual.index, expected.index, f"{what} index")
        for i, name in enumerate(expected.columns):
            _assert_column(actual.iloc[:, i], expected.iloc[:, i], f"{what}[{name!r}]")
    elif isinstance(expected, pd.Series):
        assert isinstance(actual, pd.Series), f"{what}: {type(actual).__name__}, not Series"
        assert actual.name == expected.name, f"{what}: name {actual.name!r} != {expected.name!r}"
        assert_index_equal(actual.index, expected.index, f"{what} index")
        _assert_column(actual, expected, what)
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{what}: {type(actual).__name__}, not ndarray"
        assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
        ok = (
            _floats_equal(actual.ravel(), expected.ravel())
            if expected.dtype.kind == "f"
            else np.array_equal(actual, expected)
        )
        assert ok, f"{what}: {_first_difference(actual.ravel(), expected.ravel())}"
    else:
        assert actual == expected, f"{what}: {actual!r} != {expected!r}"
