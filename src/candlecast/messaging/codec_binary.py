"""candlecast's binary dataframe encoding, negotiated as subprotocol ``candlecast.v1``.

A frame is::

    b"CCB1" | u32 little-endian header length | header (JSON) | padding to 8 | blocks

The header names the message (type, key, la, producer send time), the row count,
the columns in the producer's order, and one entry per block. Columns are grouped
by dtype: all float64 columns form one block, all int64 one, and so on, each laid
out column after column (the way pandas stores them), so encoding is one copy per
dtype and decoding is ``np.frombuffer`` plus one copy. Datetime columns travel as
int64 with their unit and timezone; string and object columns travel as a JSON list
in the header. Values are exact: nothing is rounded, unlike the JSON encoding.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks

from candlecast.exceptions import ProtocolViolation

MAGIC = b"CCB1"
SUBPROTOCOL = "candlecast.v1"
_HEADER = struct.Struct("<4sI")
_NUMERIC_KINDS = "fiub"


_MASKED = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)
_SPECIAL_FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
_INT_RANGE = (-(2**63), 2**64 - 1)


class _Unencodable(Exception):
    pass


def _object_cell(value: Any) -> Any:
    """One object-column value as JSON, exactly: special values become tagged objects."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.generic):
        return _object_cell(value.item())
    if isinstance(value, int):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise _Unencodable(f"integer {value} beyond 64 bits")
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else {"$f": str(value)}
    if value is pd.NA:
        return {"$na": 1}
    if value is pd.NaT:
        return {"$nat": 1}
    if isinstance(value, pd.Timestamp):
        return {"$ts": value.value, "tz": None if value.tz is None else str(value.tz)}
    raise _Unencodable(f"a value of type {type(value).__name__}")


def _object_value(cell: Any) -> Any:
    if not isinstance(cell, dict):
        return cell
    if "$f" in cell:
        return _SPECIAL_FLOATS[cell["$f"]]
    if "$na" in cell:
        return pd.NA
    if "$nat" in cell:
        return pd.NaT
    if "$ts" in cell:
        return pd.Timestamp(int(cell["$ts"]), tz=cell.get("tz"))
    raise ValueError(f"unknown object cell {cell!r:.60}")


def _column_spec(
    frame: pd.DataFrame, pos: int, groups: dict[str, list[Any]], objects: dict[str, list[Any]]
) -> list[Any]:
    """The header entry of one column; its values go to ``groups`` (numeric blocks, keyed
    by numpy dtype) or ``objects``. Raises _Unencodable for a dtype it cannot carry."""
    name = str(frame.columns[pos])
    dtype = frame.dtypes.iloc[pos]
    series = frame.iloc[:, pos]
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
        tz = str(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else None
        groups.setdefault("M", []).append(("M", pos, pd.DatetimeIndex(series).asi8))
        return [name, "M", unit, tz, ("M", pos)]
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        unit = np.datetime_data(dtype)[0]
        groups.setdefault("M", []).append(("M", pos, series.to_numpy().view(np.int64)))
        return [name, "m", unit, None, ("M", pos)]
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMERIC_KINDS:
        groups.setdefault(dtype.str, []).append((dtype.str, pos, None))
        return [name, "n", dtype.str, None, (dtype.str, pos)]
    if isinstance(series.array, _MASKED):
        numpy_dtype = dtype.numpy_dtype
        values = series.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))
        mask = series.isna().to_numpy()
        groups.setdefault(numpy_dtype.str, []).append(("x", pos, values))
        groups.setdefault("|b1", []).append(("mask", pos, mask))
        return [name, "x", str(dtype), ("mask", pos), ("x", pos)]
    if isinstance(dtype, pd.StringDtype):
        objects[name] = [None if v is None or v is pd.NA or v != v else v for v in series.tolist()]
        return [name, "o", str(dtype), None, None]
    if dtype == np.dtype(object):
        objects[name] = [_object_cell(v) for v in series.tolist()]
        return [name, "o", "object", None, None]
    raise _Unencodable(f"dtype {dtype}")


def encode_frame(
    meta: dict[str, Any], frame: pd.DataFrame, dropped: list[tuple[Any, str]] | None = None
) -> bytes:
    """Encode ``frame`` with message fields ``meta`` (type, key, la, ...) into one frame.

    Every dtype travels exactly (numpy numbers, datetimes with unit and zone, nullable
    Int/Float/boolean with their NA mask, ``str``/``string``, object values). A column
    of another dtype (categorical, timedelta, ...) or holding values that cannot travel
    is left out and reported in ``dropped`` as (column, reason).
    """
    n = len(frame)
    col_specs: list[list[Any]] = []
    objects: dict[str, list[Any]] = {}
    groups: dict[str, list[Any]] = {}  # block dtype -> [(tag, position, values or None)]
    for pos in range(frame.shape[1]):
        try:
            col_specs.append(_column_spec(frame, pos, groups, objects))
        except _Unencodable as exc:
            if dropped is not None:
                dropped.append((frame.columns[pos], f"holds {exc}"))
            for members in groups.values():  # forget anything the column put there
                members[:] = [m for m in members if m[1] != pos]
    blocks: list[list[Any]] = []
    body: list[memoryview] = []
    where: dict[tuple[str, int], list[int]] = {}
    offset = 0
    for key, members in groups.items():
        if not members:
            continue
        if key == "M" or any(tag != key for tag, _, _ in members):
            stack = [frame.iloc[:, p].to_numpy() if v is None else v for _, p, v in members]
            dtype = np.dtype("<i8") if key == "M" else np.dtype(key)
            block = np.stack(stack).astype(dtype, copy=False) if n else np.empty((0, 0))
            block_key = dtype.str
        else:
            # pandas keeps same-dtype columns as one 2-D block: one copy, column after column
            positions = [p for _, p, _ in members]
            block = frame.iloc[:, positions].to_numpy(dtype=np.dtype(key)).T
            block_key = key
        raw = np.ascontiguousarray(block).reshape(-1).view(np.uint8).data  # no copy
        for row, (tag, pos, _) in enumerate(members):
            where[(tag, pos)] = [len(blocks), row]
        blocks.append([block_key, len(members), offset])
        body.append(raw)
        offset += len(raw)
    for spec in col_specs:
        for slot in (3, 4):
            if isinstance(spec[slot], tuple):
                spec[slot] = where[spec[slot]]
    index = frame.index
    if isinstance(index, pd.RangeIndex):
        index_spec: Any = ["range", index.start, index.step]
    else:
        index_spec = ["values", index.tolist()]
    header = {
        **meta,
        "n": n,
        "cols": col_specs,
        "blocks": blocks,
        "obj": objects,
        "idx": index_spec,
    }
    head = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
    pad = (-(len(head) + _HEADER.size)) % 8
    return b"".join([_HEADER.pack(MAGIC, len(head) + pad), head, b" " * pad, *body])


def _row(views: list[np.ndarray], loc: Any, name: str) -> np.ndarray:
    view = views[loc[0]]
    row = int(loc[1])
    if not 0 <= row < view.shape[0]:
        raise ValueError(f"column {name!r} points outside its block")
    return view[row]


def _single_column(
    name: str,
    kind: str,
    sub: str,
    tz: Any,
    loc: Any,
    n: int,
    views: list[np.ndarray],
    objects: dict[str, Any],
) -> Any:
    """The array of a column outside the plain numeric blocks: strings and objects,
    nullable dtypes (values and mask), datetimes, timedeltas."""
    if kind == "o":
        values = objects[name]
        if not isinstance(values, list) or len(values) != n:
            raise ValueError(f"object column {name!r} has the wrong length")
        if sub in ("str", "string"):
            return pd.array(values, dtype=sub)
        cells = np.empty(n, dtype=object)
        cells[:] = [_object_value(v) for v in values]
        return cells.reshape(1, n)
    if kind == "x":
        data, mask = _row(views, loc, name), _row(views, tz, name)
        if mask.dtype != np.bool_:
            raise ValueError(f"column {name!r} has no boolean mask")
        array_type = pd.api.types.pandas_dtype(sub).construct_array_type()
        return array_type(np.array(data), np.array(mask))
    if kind == "M":
        dates = _row(views, loc, name).view(f"datetime64[{sub}]")
        if tz and tz != "UTC":  # the values are UTC instants, not wall times
            return pd.DatetimeIndex(dates).tz_localize("UTC").tz_convert(tz).array
        dtype = pd.DatetimeTZDtype(sub, tz) if tz else np.dtype(f"datetime64[{sub}]")
        return pd.array(dates, dtype=dtype)
    if kind == "m":
        return pd.array(_row(views, loc, name).view(f"timedelta64[{sub}]"))
    raise ValueError(f"unknown column kind {kind!r}")


def decode_frame(data: bytes) -> tuple[dict[str, Any], pd.DataFrame]:
    """Decode one binary frame into (meta fields, DataFrame).

    Raises:
        ProtocolViolation: the frame is truncated, inconsistent or not ours.
    """
    if len(data) < _HEADER.size:
        raise ProtocolViolation("binary frame: shorter than its header")
    magic, head_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolViolation("binary frame: unknown magic, expected CCB1")
    start = _HEADER.size + head_len
    if start > len(data):
        raise ProtocolViolation("binary frame: header length exceeds the frame")
    try:
        header = orjson.loads(data[_HEADER.size : start])
        n = int(header["n"])
        cols = header["cols"]
        blocks = header["blocks"]
        objects = header.get("obj", {})
        if n < 0 or not isinstance(cols, list) or not isinstance(blocks, list):
            raise ValueError("bad shape")
        views = []
        for key, count, offset in blocks:
            dtype = np.dtype(key)
            if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
                raise ValueError(f"block dtype {key}")
            nbytes = dtype.itemsize * int(count) * n
            begin = start + int(offset)
            if int(offset) < 0 or begin + nbytes > len(data):
                raise ValueError("block exceeds the frame")
            views.append(
                np.frombuffer(data, dtype=dtype, count=int(count) * n, offset=begin).reshape(
                    int(count), n
                )
            )
        names: list[str] = []
        # numeric columns by block: (row in the block, position in the frame)
        numeric: dict[int, list[tuple[int, int]]] = {}
        singles: list[tuple[Any, np.ndarray]] = []  # (1-column array, placement)
        for pos, (name, kind, sub, tz, loc) in enumerate(cols):
            names.append(name)
            placement = np.array([pos], dtype=np.intp)
            if kind == "n":
                view = views[loc[0]]
                row = int(loc[1])
                if not 0 <= row < view.shape[0]:
                    raise ValueError(f"column {name!r} points outside its block")
                if view.dtype.str != sub:
                    raise ValueError(f"column {name!r} dtype mismatch")
                numeric.setdefault(int(loc[0]), []).append((row, pos))
            else:
                column = _single_column(name, kind, sub, tz, loc, n, views, objects)
                singles.append((column, placement))
        if len(set(names)) != len(names):
            raise ValueError("duplicate column names")
        parts: list[tuple[Any, np.ndarray]] = []
        for block, members in numeric.items():
            rows = [r for r, _ in members]
            view = views[block]
            # one copy per block: the frame owns its data (the views are read-only)
            array = np.array(view) if rows == list(range(view.shape[0])) else view[rows]
            parts.append((array, np.array([p for _, p in members], dtype=np.intp)))
        idx = header.get("idx", ["range", 0, 1])
        if idx[0] == "range":
            index: pd.Index = pd.RangeIndex(int(idx[1]), int(idx[1]) + n * int(idx[2]), int(idx[2]))
        else:
            index = pd.Index(idx[1])
            if len(index) != n:
                raise ValueError("index length")
        frame = create_dataframe_from_blocks(parts + singles, index, pd.Index(names))
    except ProtocolViolation:
        raise
    except (KeyError, ValueError, TypeError, IndexError, orjson.JSONDecodeError) as exc:
        raise ProtocolViolation(f"binary frame: {exc}") from None
    meta = {k: v for k, v in header.items() if k not in ("n", "cols", "blocks", "obj", "idx")}
    return meta, frame
