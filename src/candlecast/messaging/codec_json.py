"""The freqtrade-compatible dataframe encoding: pandas' ``to_json(orient="split")``.

``encode_split`` produces the bytes freqtrade's producer sends (``DataFrame.to_json(
orient="split")``: epoch-millisecond dates, NaN/±inf/NA as ``null``, NaT as ``null`` in
``date`` and the int64 minimum elsewhere, floats with at most 10 decimals rounded the way
pandas rounds them) without calling pandas' encoder: the C module writes numeric rows, or
floats are rounded in numpy and written by orjson, which prints the rounded value exactly
as pandas does inside a checked range; values outside it go through ``pandas_float``, a
Python rendering of pandas' rule. ``encode_split_lenient`` leaves out columns it cannot
encode instead of raising.

``decode_split`` turns such a document back into the frame freqtrade's consumer gets
(``read_json(orient="split")`` then ``date`` to UTC), except that float columns stay
float64 and numbers are read correctly rounded (docs/compat.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks

from candlecast.domain.candles import dates_to_ms
from candlecast.exceptions import ProtocolViolation

_numrows: Any
try:  # the C row parser, built when a compiler was available at install
    import candlecast._numrows as _numrows
except ImportError:  # pragma: no cover - depends on the installation
    _numrows = None

_THRES_MAX = 1e16
_THRES_MIN = 1e-15
# Inside [_SAFE_LOW, _SAFE_HIGH) the double nearest a 10-decimal number prints back
# as that number through orjson's shortest round-trip formatting (ulp < 1e-10, and
# orjson uses fixed notation there).
_SAFE_LOW = 1e-5
_SAFE_HIGH = float(2**19)
_MIN_INT64 = np.iinfo(np.int64).min
_MAX_UINT64 = int(np.iinfo(np.uint64).max)
_MASKED = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)


def pandas_float(value: float) -> str:
    """Render ``value`` as pandas' JSON encoder does with ``double_precision=10``."""
    if math.isnan(value) or math.isinf(value):
        return "null"
    neg = value < 0
    a = -value if neg else value
    if a > _THRES_MAX or (a != 0.0 and a < _THRES_MIN):
        return format(value, ".10g")
    whole = int(a)
    tmp = (a - whole) * 1e10
    frac = int(tmp)
    diff = tmp - frac
    if diff > 0.5 or (diff == 0.5 and (frac == 0 or frac & 1)):
        frac += 1
    if frac >= 10_000_000_000:
        frac = 0
        whole += 1
    body = f"{whole}.0" if frac == 0 else f"{whole}.{frac:010d}".rstrip("0")
    return ("-" if neg else "") + body


#: Values rounded per pass: the temporaries of a chunk stay in the CPU cache, which
#: makes rounding a 1500 x 45 block about four times faster than one whole-array pass.
_ROUND_CHUNK = 8192


def _round_like_pandas(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (rounded values, mask of values orjson would print differently, or None).

    The result is C-contiguous, shaped like ``values``.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    flat = values.reshape(-1)
    out = np.empty_like(flat)
    unsafe: np.ndarray | None = None
    for start in range(0, len(flat), _ROUND_CHUNK):
        stop = start + _ROUND_CHUNK
        part_unsafe = _round_chunk(flat[start:stop], out[start:stop])
        if part_unsafe is not None:
            if unsafe is None:
                unsafe = np.zeros(len(flat), dtype=bool)
            unsafe[start:stop] = part_unsafe
    return out.reshape(values.shape), None if unsafe is None else unsafe.reshape(values.shape)


def _round_chunk(values: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """Round ``values`` into ``out`` as pandas does; return the unsafe mask, or None.

    pandas rounds the fraction ``(|v| - trunc|v|) * 1e10`` half to even, except that a
    tie at 0.5 rounds away from zero; ``rint`` does the former, one fix-up the latter.
    Working on signed values gives the same doubles (every step is exact or rounds
    symmetrically), keeps -0.0 for a negative value that rounds to zero (pandas prints
    "-0.0") and turns -0.0 itself into 0.0 (pandas prints "0.0").
    """
    with np.errstate(invalid="ignore", over="ignore"):
        whole = np.trunc(values, out=out)
        tmp = np.subtract(values, whole)
        tmp *= 1e10
        frac = np.rint(tmp)
        scratch = np.abs(tmp, out=tmp)
        ties = scratch == 0.5
        if ties.any():
            frac[ties] = np.sign(values[ties])
        whole *= 1e10
        whole += frac
        whole /= 1e10
        # Outside [_SAFE_LOW, _SAFE_HIGH) orjson's text may differ from pandas' (this also
        # covers pandas' exponent form above 1e16 and below 1e-15); NaN/inf print as null.
        # Most frames lie well inside: two reductions over |v| (NaN ignored) prove it.
        magnitude = np.abs(values, out=scratch)
        if magnitude.size:
            low = np.fmin.reduce(magnitude)
            high = np.fmax.reduce(magnitude)
            if (low >= _SAFE_LOW * 1.001 and high < _SAFE_HIGH - 1.0) or np.isnan(low):
                return None  # (all NaN: every value prints as null)
        ra = np.abs(whole)
        safe = (ra < _SAFE_HIGH) & ((ra >= _SAFE_LOW) | (values == 0))
        unsafe = ~safe & np.isfinite(values)
    return unsafe if unsafe.any() else None


def _float_column(values: np.ndarray) -> list[Any]:
    rounded, unsafe = _round_like_pandas(values)
    out: list[Any] = rounded.tolist()
    if unsafe is not None:
        for i in np.flatnonzero(unsafe).tolist():
            out[i] = orjson.Fragment(pandas_float(float(values[i])).encode())
    return out


def _datetime_ms(series: pd.Series, nat: int | None = None) -> list[Any]:
    """Epoch milliseconds of a datetime column; NaT becomes ``nat`` (None: JSON null)."""
    values = series.array
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        naive = pd.DatetimeIndex(values).tz_convert("UTC").tz_localize(None)
    else:
        naive = pd.DatetimeIndex(values)
    ints = naive.as_unit("ms").asi8
    out: list[Any] = ints.tolist()
    missing = series.isna().to_numpy()
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            out[i] = nat
    return out


class UnencodableColumn(Exception):
    """A column holds values the JSON encoding cannot carry (``args``: the reason)."""


def _object_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if not math.isfinite(value) else orjson.Fragment(pandas_float(value).encode())
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        if not _MIN_INT64 <= value <= _MAX_UINT64:
            raise UnencodableColumn(f"integer {value} beyond 64 bits")
        return value
    if isinstance(value, np.generic):
        return _object_value(value.item())
    if isinstance(value, pd.Timestamp):
        return (
            int(value.as_unit("ms").value // 1000)
            if value.tz is None
            else int(value.timestamp() * 1000)
        )
    raise UnencodableColumn(f"a value of type {type(value).__name__}")


def _json_value(value: Any) -> bytes:
    """One value as pandas writes it: strings escape "/" and every non-ASCII character."""
    text = orjson.dumps(value)
    if isinstance(value, str):
        if not text.isascii():
            text = json.dumps(value, ensure_ascii=True).encode()
        if b"/" in text:
            text = text.replace(b"/", b"\\/")
    return text


def _json_values(values: list[Any]) -> list[bytes]:
    """``_json_value`` of each, rendering each distinct string once (tags repeat)."""
    seen: dict[str, bytes] = {}
    out = []
    for value in values:
        if isinstance(value, str):
            text = seen.get(value)
            if text is None:
                text = seen[value] = _json_value(value)
            out.append(text)
        else:
            out.append(orjson.dumps(value))
    return out


def column_values(series: pd.Series, name: Any = None) -> list[Any]:
    """One column as JSON-ready Python values, formatted as freqtrade's producer writes them.

    NaT is null in the ``date`` column and the int64 minimum in any other datetime
    column (what freqtrade sends); nullable dtypes write NA as null.

    Raises:
        UnencodableColumn: a dtype or value the encoding cannot carry.
    """
    dtype = series.dtype
    if isinstance(series.array, _MASKED):
        return _masked_values(series)
    kind = dtype.kind
    if isinstance(dtype, np.dtype) and kind == "f":
        return _float_column(series.to_numpy(dtype=np.float64))
    if isinstance(dtype, np.dtype) and kind in "iub":
        return series.to_numpy().tolist()
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and kind == "M"):
        return _datetime_ms(series, None if name == "date" else _MIN_INT64)
    if isinstance(dtype, np.dtype) and kind == "m":  # timedeltas: integer milliseconds
        nanos = series.to_numpy().astype("timedelta64[ns]").view(np.int64)
        out: list[Any] = (nanos // 1_000_000).tolist()
        for i in np.flatnonzero(nanos == _MIN_INT64).tolist():
            out[i] = None
        return out
    if isinstance(dtype, pd.StringDtype | pd.CategoricalDtype) or dtype == np.dtype(object):
        return [_object_value(v) for v in series.to_numpy(dtype=object)]
    raise UnencodableColumn(f"dtype {dtype}")


def _masked_values(series: pd.Series) -> list[Any]:
    """Int64 / boolean / Float64 columns: values as their numpy dtype, NA as null."""
    missing = series.isna().to_numpy()
    kind = series.dtype.kind
    if kind == "f":
        return _float_column(series.to_numpy(dtype=np.float64, na_value=np.nan))
    numpy_dtype = series.dtype.numpy_dtype
    out: list[Any] = series.to_numpy(dtype=numpy_dtype, na_value=0).tolist()
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out


def _index_values(index: pd.Index) -> list[Any]:
    if isinstance(index, pd.RangeIndex):
        return list(range(index.start, index.stop, index.step))
    return column_values(pd.Series(index), "date")


def _column_label(label: Any) -> bytes:
    """A column name as pandas writes it: integers as JSON numbers, anything else as text."""
    if isinstance(label, int | np.integer) and not isinstance(label, bool | np.bool_):
        return str(int(label)).encode()
    return _json_value(str(label))


def encode_split(frame: pd.DataFrame) -> bytes:
    """Encode ``frame`` as pandas' ``to_json(orient="split")`` would, as UTF-8 bytes.

    Runs of adjacent float columns are written by orjson as one numpy block and cut
    into per-row pieces, other numeric columns one by one; rows are then spliced from
    the pieces in a single join. Columns that need Python values (strings, NaT, floats
    outside the checked range) are written value by value.
    """
    head = (
        b'{"columns":['
        + b",".join(_column_label(c) for c in frame.columns)
        + b'],"index":'
        + orjson.dumps(_index_values(frame.index))
        + b"}"
    )
    n = len(frame)
    if n == 0 or frame.shape[1] == 0:
        rows = b",".join(b"[]" for _ in range(n))
        return head[:-1] + b',"data":[' + rows + b"]}"
    data = _format_rows_in_c(frame)
    if data is not None:
        return head[:-1] + b',"data":' + data + b"}"
    pieces = [_segment_rows(frame, kind, cols) for kind, cols in _segments(frame)]
    # one join over [open, seg0, ",", seg1, ...] per row, interleaved by slice assignment
    width = 2 * len(pieces)
    flat: list[Any] = [b","] * (width * n)
    flat[0::width] = [b"],["] * n
    flat[0] = head[:-1] + b',"data":[['
    for j, segment in enumerate(pieces):
        flat[2 * j + 1 :: width] = segment
    flat.append(b"]]}")
    return b"".join(flat)


def encode_split_lenient(frame: pd.DataFrame) -> tuple[bytes, list[tuple[Any, str]]]:
    """``encode_split``, leaving out the columns it cannot encode (never raises for a
    frame pandas can hold). Returns (document, [(column, reason), ...])."""
    try:
        return encode_split(frame), []
    except Exception:  # find the columns at fault below
        pass
    keep: list[int] = []
    dropped: list[tuple[Any, str]] = []
    for pos, name in enumerate(frame.columns):
        try:
            _json_values(column_values(frame.iloc[:, pos], name))
            keep.append(pos)
        except UnencodableColumn as exc:
            dropped.append((name, f"holds {exc}"))
        except Exception as exc:  # a value orjson or pandas refuses
            dropped.append((name, f"{type(exc).__name__}: {exc}"))
    part = frame.iloc[:, keep]
    try:
        return encode_split(part), dropped
    except Exception as exc:  # an index that cannot be written
        dropped.append(("index", f"{type(exc).__name__}: {exc}"))
        return encode_split(part.reset_index(drop=True)), dropped


def _format_rows_in_c(frame: pd.DataFrame) -> bytes | None:
    """The "data" rows written by ``candlecast._numrows``: numeric columns in C, other
    columns (strings, NaT) as pieces rendered here. None without the module, or when a
    float needs pandas' exponent form (the general path writes those)."""
    if _numrows is None:
        return None
    blocks: list[tuple[str, Any, int]] = []
    kinds = [_kind(dtype) for dtype in frame.dtypes]
    pos = 0
    while pos < len(kinds):
        kind = kinds[pos]
        stop = pos + 1
        if kind in "fib":
            while stop < len(kinds) and kinds[stop] == kind:
                stop += 1
        if kind == "f":
            values = frame.iloc[:, pos:stop].to_numpy(dtype=np.float64)
        elif kind == "i":
            values = frame.iloc[:, pos:stop].to_numpy(dtype=np.int64)
        elif kind == "b":
            values = frame.iloc[:, pos:stop].to_numpy(dtype=np.bool_)
        elif kind == "M" and (ms := _epoch_ms(frame.iloc[:, pos], frame.columns[pos])) is not None:
            values, kind = ms.reshape(-1, 1), "i"
        else:  # strings, objects, dates with NaT: one rendered piece per row
            pieces = _json_values(column_values(frame.iloc[:, pos], frame.columns[pos]))
            blocks.append(("p", pieces, 1))
            pos = stop
            continue
        blocks.append((kind, np.ascontiguousarray(values), stop - pos))
        pos = stop
    return _numrows.format_rows(blocks, len(frame))


def _epoch_ms(series: pd.Series, name: Any) -> np.ndarray | None:
    """A datetime column's epoch milliseconds, or None when ``date`` holds NaT (written
    as null); in any other column NaT is the int64 minimum, as freqtrade sends it."""
    values = series.array
    if isinstance(values, pd.arrays.DatetimeArray) and values.unit == "us":
        us = values.asi8  # the candle dtype: no conversion needed; NaT is the int64 minimum
        nat = us == _MIN_INT64
        if not nat.any():
            return us // 1000
        if name == "date":
            return None
        return np.where(nat, _MIN_INT64, us // 1000)
    if not series.isna().any():
        return dates_to_ms(series)
    if name == "date":
        return None
    return np.array(_datetime_ms(series, _MIN_INT64), dtype=np.int64)


def _kind(dtype: object) -> str:
    if isinstance(dtype, np.dtype) and dtype.kind in "fib":
        return dtype.kind
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return "M"
    return "o"


def _segments(frame: pd.DataFrame) -> list[tuple[str, list[int]]]:
    """Group adjacent float columns; other columns stand alone.

    (A lone column splits into rows at "," with no per-row slicing, which beats
    grouping the few integer signal columns a frame usually has.)
    """
    segments: list[tuple[str, list[int]]] = []
    for pos, dtype in enumerate(frame.dtypes):
        kind = _kind(dtype)
        if segments and segments[-1][0] == kind and kind == "f":
            segments[-1][1].append(pos)
        else:
            segments.append((kind, [pos]))
    return segments


def _numeric_rows(block: np.ndarray) -> list[Any]:
    """Each row of a 2-D numeric block as JSON text (bytes or memoryviews of one blob)."""
    block = np.ascontiguousarray(block)
    if block.shape[1] == 1:
        # one column: "[a,b,c]" splits at "," into the values themselves
        blob = orjson.dumps(block.reshape(-1), option=orjson.OPT_SERIALIZE_NUMPY)
        return blob[1:-1].split(b",")
    blob = orjson.dumps(block, option=orjson.OPT_SERIALIZE_NUMPY)
    # "[[r0],[r1]]": every "]" but the last closes a row; numbers never contain one.
    # Rows are taken as memoryviews of the blob: no copy, no per-row search.
    ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 93)[:-1]
    starts = np.empty_like(ends)
    starts[0] = 2
    starts[1:] = ends[:-1] + 3
    view = memoryview(blob)
    return [view[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _segment_rows(frame: pd.DataFrame, kind: str, cols: list[int]) -> list[Any]:
    if kind == "f":
        block = frame.iloc[:, cols].to_numpy(dtype=np.float64)
        rounded, unsafe = _round_like_pandas(block)
        if unsafe is None:
            return _numeric_rows(rounded)
        per_column = [_float_column(block[:, i]) for i in range(len(cols))]
        return [b",".join(orjson.dumps(v) for v in row) for row in zip(*per_column, strict=True)]
    if kind in "ib":
        return _numeric_rows(
            frame.iloc[:, cols].to_numpy(dtype=np.int64 if kind == "i" else np.bool_)
        )
    series, name = frame.iloc[:, cols[0]], frame.columns[cols[0]]
    if kind == "M" and (ms := _epoch_ms(series, name)) is not None:
        return _numeric_rows(ms.reshape(-1, 1))
    return _json_values(column_values(series, name))


# token classes the C parser reports per column (bit flags)
_TOKEN_INT, _TOKEN_FLOAT, _TOKEN_NULL, _TOKEN_BIG_INT = 1, 2, 4, 8
# read_json's rules for columns named like dates (freqtrade's consumer applies them)
_MIN_STAMP = 31_536_000
_STAMP_UNITS = ("s", "ms", "us", "ns")


def _is_date_like(name: Any) -> bool:
    """Column names read_json turns into dates (besides ``date``, which freqtrade converts)."""
    if not isinstance(name, str):
        return False
    lower = name.lower()
    return (
        lower.endswith(("_at", "_time"))
        or lower in ("modified", "datetime")
        or lower.startswith("timestamp")
    )


def _date_like_values(values: Any) -> Any:
    """A numeric column named like a date as freqtrade's reader converts it: epoch values
    (all above one year in seconds, NaN or the int64 minimum) read in the first unit of
    s, ms, us, ns that fits; anything else unchanged."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf" or not len(array):
        return values
    series = pd.Series(array)
    with np.errstate(invalid="ignore"):
        in_range = series.isna().to_numpy() | (array > _MIN_STAMP) | (array == _MIN_INT64)
    if not in_range.all():
        return values
    for unit in _STAMP_UNITS:  # the first unit whose dates fit pandas' nanosecond range
        try:
            converted = pd.to_datetime(series, errors="raise", unit=unit)
            converted.dt.as_unit("ns")
        except (ValueError, OverflowError, TypeError):
            continue
        return converted.array
    return values


def _valid_label(label: Any) -> bool:
    return isinstance(label, str) or (isinstance(label, int) and not isinstance(label, bool))


def _numeric_blocks(columns: Sequence[Any], block: np.ndarray, flags: bytes) -> list[Any]:
    """Split a (rows, columns) float64 array into pandas blocks.

    ``flags`` holds the token classes seen per column: a column of integer literals only
    becomes int64 (exact: the parser refuses none, but the caller sends columns beyond
    2**53 elsewhere), anything with a fraction, an exponent or a null float64, ``date``
    UTC dates. Returns ``[(array, placement), ...]`` for ``create_dataframe_from_blocks``.
    """
    nrows, ncols = block.shape
    by_column = np.ascontiguousarray(block.T)  # pandas blocks are (columns, rows)
    blocks: list[Any] = []
    floats, ints = [], []
    for i, name in enumerate(columns):
        if name == "date":
            dates = _dates_from_float_ms(by_column[i]).array
            blocks.append((dates, np.array([i], dtype=np.intp)))
        elif nrows and flags[i] == _TOKEN_INT:
            if _is_date_like(name):
                converted = _date_like_values(by_column[i].astype(np.int64))
                blocks.append((_as_block(converted), np.array([i], dtype=np.intp)))
            else:
                ints.append(i)
        elif nrows and _is_date_like(name):
            converted = _date_like_values(by_column[i])
            blocks.append((_as_block(converted), np.array([i], dtype=np.intp)))
        else:
            floats.append(i)
    if floats:
        rows = by_column[floats] if len(floats) != ncols else by_column
        blocks.append((rows, np.array(floats, dtype=np.intp)))
    if ints:
        blocks.append((by_column[ints].astype(np.int64), np.array(ints, dtype=np.intp)))
    return blocks


def _as_block(values: Any) -> Any:
    return values.reshape(1, -1) if isinstance(values, np.ndarray) else values


def _dates_from_float_ms(col: np.ndarray) -> pd.DatetimeIndex:
    nat = np.isnan(col)
    ints = np.where(nat, 0, col).astype(np.int64)
    dates = ints.astype("datetime64[ms]").astype("datetime64[us]")
    dates[nat] = np.datetime64("NaT")
    return pd.DatetimeIndex(dates).tz_localize("UTC")


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _decode_column(name: Any, values: list[Any]) -> Any:
    """One column from its JSON values (orjson's Python objects), typed as freqtrade's
    reader types it, except that a column with a fractional or exponent literal stays
    float64 (freqtrade makes whole-number float columns int64) and values are exact."""
    if name == "date":
        if any(not isinstance(v, int | float | None) or isinstance(v, bool) for v in values):
            raise ProtocolViolation("dataframe: 'date' must hold epoch milliseconds")
        return _dates_from_float_ms(_floats(values))
    kinds = {type(v) for v in values}
    has_null = type(None) in kinds
    kinds.discard(type(None))
    if not kinds:
        return np.full(len(values), np.nan)
    if kinds == {int} and not has_null:
        try:
            column: Any = np.array(values, dtype=np.int64)
        except OverflowError:
            try:
                column = np.array(values, dtype=np.uint64)
            except OverflowError:
                column = np.array([float(v) for v in values])
    elif kinds <= {int, float}:
        column = _floats(values)
    elif kinds == {bool}:
        if not has_null:
            return np.array(values, dtype=bool)
        column = _floats(values)
    elif kinds == {str}:
        return pd.array([np.nan if v is None else v for v in values], dtype="str")
    else:
        return np.array(values, dtype=object)
    return _date_like_values(column) if _is_date_like(name) else column


def _decode_fast(document: bytes | str) -> pd.DataFrame | None:
    """Decode a document whose ``data`` is all numbers with the C row parser, or None.

    The head (columns, index) is read by orjson; the rows, pandas' usual last key, go
    to ``candlecast._numrows``. Anything unusual returns None and takes the general
    path, which also produces the error messages.
    """
    if _numrows is None:
        return None
    if isinstance(document, str):
        pos = document.find('"data":')
        closing: Any = '"data":[]}'
    else:
        pos = document.find(b'"data":')
        closing = b'"data":[]}'
    if pos < 0:
        return None
    try:
        head = orjson.loads(document[:pos] + closing)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict) or set(head) - {"columns", "index", "data"}:
        return None
    columns, index = head.get("columns"), head.get("index")
    if (
        not isinstance(columns, list)
        or not columns
        or not all(_valid_label(c) for c in columns)
        or len(set(columns)) != len(columns)
    ):
        return None
    parsed = _numrows.parse(document, pos + len('"data":'), len(columns))
    if parsed is None:
        return None
    packed, nrows, end, flags = parsed
    if document[end:].strip() not in ("}", b"}") or any(f & _TOKEN_BIG_INT for f in flags):
        return None  # (integers beyond 2**53 are read exactly by the general path)
    if index is None:
        index = list(range(nrows))
    if not isinstance(index, list) or len(index) != nrows:
        return None
    block = np.frombuffer(packed, dtype=np.float64).reshape(nrows, len(columns))
    return create_dataframe_from_blocks(
        _numeric_blocks(columns, block, flags), _decode_index(index), pd.Index(columns)
    )


def decode_split(document: bytes | str | dict) -> pd.DataFrame:
    """Decode a ``to_json(orient="split")`` document into a DataFrame.

    Column dtypes follow freqtrade's reader (``read_json`` then ``date`` to UTC): integer
    literals give int64 (uint64 above the int64 range), ``true``/``false`` bool, strings
    ``str``, all-null columns float64; a number column with a null, or with a fractional or
    exponent literal, is float64 (freqtrade would make a whole-number one int64: candlecast
    keeps it float64); bools with nulls float64; columns named like dates (``*_at``,
    ``*_time``, ``timestamp*``, ``modified``, ``datetime``) holding epoch numbers become
    dates as read_json makes them. Numbers are read correctly rounded, integers exactly.

    Raises:
        ProtocolViolation: the document is not a valid split-oriented frame.
    """
    if isinstance(document, bytes | str):
        fast = _decode_fast(document)
        if fast is not None:
            return fast
    obj = _loads(document) if isinstance(document, bytes | str) else document
    if not isinstance(obj, dict):
        raise ProtocolViolation("dataframe: expected a JSON object with columns, index, data")
    columns, index, data = obj.get("columns"), obj.get("index"), obj.get("data")
    if not isinstance(columns, list) or not all(_valid_label(c) for c in columns):
        raise ProtocolViolation("dataframe: expected 'columns' to be a list of names")
    if len(set(columns)) != len(columns):
        raise ProtocolViolation("dataframe: duplicate column names")
    if not isinstance(data, list) or any(
        not isinstance(r, list) or len(r) != len(columns) for r in data
    ):
        raise ProtocolViolation(
            f"dataframe: expected 'data' to be a list of rows of {len(columns)} values"
        )
    if index is None:
        index = list(range(len(data)))
    if not isinstance(index, list) or len(index) != len(data):
        raise ProtocolViolation("dataframe: expected 'index' to be a list as long as 'data'")
    if not data:
        return _empty_frame(columns, _decode_index(index))
    arrays = []
    for i, name in enumerate(columns):
        values = [row[i] for row in data]
        for v in values:
            if isinstance(v, list | dict):
                raise ProtocolViolation(f"dataframe: column {name!r} holds a nested value")
        arrays.append(_decode_column(name, values))
    frame = pd.DataFrame(dict(enumerate(arrays)), copy=False)
    frame.columns = pd.Index(columns)
    frame.index = _decode_index(index)
    return frame


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _loads(document: bytes | str) -> Any:
    """orjson, or Python's parser for what orjson refuses but JSON allows (a number
    beyond the double range, written by pandas for values near it; integers beyond 64
    bits)."""
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(document, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise ProtocolViolation(f"dataframe: invalid JSON ({exc.msg})") from None


def _empty_frame(columns: list[Any], index: pd.Index) -> pd.DataFrame:
    """No rows: every column float64 but ``date`` (UTC dates), as freqtrade reads it."""
    data = {
        i: (_dates_from_float_ms(np.empty(0)) if name == "date" else np.empty(0))
        for i, name in enumerate(columns)
    }
    frame = pd.DataFrame(data, index=index)
    frame.columns = pd.Index(columns)
    return frame


def _decode_index(values: list[Any]) -> pd.Index:
    n = len(values)
    if n == 0:
        return pd.Index([], dtype=np.float64)
    kinds = set(map(type, values))
    if kinds <= {int}:
        if values == list(range(n)):
            return pd.RangeIndex(n)
        return pd.Index(values, dtype=np.int64)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pd.Index(values, dtype=np.float64)
    return pd.Index(values)


def reference_encode(frame: pd.DataFrame) -> str:
    """The text freqtrade's producer sends for ``frame`` (pandas' own encoder): the
    reference the fast encoder must match. (freqtrade's pandas writes NaT in a datetime
    column other than ``date`` as the int64 minimum, where this pandas writes null: the
    column is given as those integers.)"""
    import warnings

    nat_columns = [
        pos
        for pos, (name, dtype) in enumerate(zip(frame.columns, frame.dtypes, strict=True))
        if name != "date" and _kind(dtype) == "M" and frame.iloc[:, pos].isna().any()
    ]
    if nat_columns:
        frame = frame.copy()
        for pos in nat_columns:
            ms = _datetime_ms(frame.iloc[:, pos], _MIN_INT64)
            frame.isetitem(pos, np.array(ms, dtype=np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return frame.to_json(orient="split", date_format="epoch", date_unit="ms")


def reference_decode(text: str) -> pd.DataFrame:
    """What freqtrade does on receipt: ``read_json(orient="split")`` then UTC dates."""
    import io
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pd.read_json(io.StringIO(text), orient="split")
    if "date" in frame.columns:
        frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
    return frame


__all__ = [
    "UnencodableColumn",
    "decode_split",
    "encode_split",
    "encode_split_lenient",
    "pandas_float",
    "reference_decode",
    "reference_encode",
]
