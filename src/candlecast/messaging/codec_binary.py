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


def encode_frame(meta: dict[str, Any], frame: pd.DataFrame) -> bytes:
    """Encode ``frame`` with message fields ``meta`` (type, key, la, ...) into one frame."""
    n = len(frame)
    col_specs: list[list[Any]] = []
    objects: dict[str, list[Any]] = {}
    groups: dict[str, list[int]] = {}  # block dtype -> column positions
    for pos, dtype in enumerate(frame.dtypes):
        name = str(frame.columns[pos])
        if isinstance(dtype, pd.DatetimeTZDtype) or (
            isinstance(dtype, np.dtype) and dtype.kind == "M"
        ):
            unit = (
                dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
            )
            tz = str(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else None
            col_specs.append([name, "M", unit, tz, ("M", pos)])
        elif isinstance(dtype, np.dtype) and dtype.kind in _NUMERIC_KINDS:
            groups.setdefault(dtype.str, []).append(pos)
            col_specs.append([name, "n", dtype.str, None, (dtype.str, pos)])
        else:
            values = frame.iloc[:, pos].tolist()
            objects[name] = [
                None if v is None or (isinstance(v, float) and v != v) else v for v in values
            ]
            kind = "str" if isinstance(dtype, pd.StringDtype) else "object"
            col_specs.append([name, "o", kind, None, None])
    # datetimes travel as int64 in the int64 block
    dates = [spec[4][1] for spec in col_specs if spec[1] == "M"]
    blocks: list[list[Any]] = []
    body: list[memoryview] = []
    where: dict[tuple[str, int], list[int]] = {}
    offset = 0
    for key, members in list(groups.items()) + ([("M", dates)] if dates else []):
        if key == "M":
            block = np.stack([pd.DatetimeIndex(frame.iloc[:, p]).asi8 for p in members])
            key = "<i8"
            tag = "M"
        else:
            # pandas keeps same-dtype columns as one 2-D block: one copy, column after column
            block = frame.iloc[:, members].to_numpy(dtype=np.dtype(key)).T
            tag = key
        raw = np.ascontiguousarray(block).reshape(-1).view(np.uint8).data  # no copy
        for row, pos in enumerate(members):
            where[(tag, pos)] = [len(blocks), row]
        blocks.append([key, len(members), offset])
        body.append(raw)
        offset += len(raw)
    for spec in col_specs:
        if spec[4] is not None:
            spec[4] = where[spec[4]]
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
            if kind == "o":
                values = objects[name]
                if not isinstance(values, list) or len(values) != n:
                    raise ValueError(f"object column {name!r} has the wrong length")
                if sub == "str":
                    singles.append((pd.array(values, dtype="str"), placement))
                else:
                    singles.append((np.array(values, dtype=object).reshape(1, n), placement))
                continue
            view = views[loc[0]]
            row = int(loc[1])
            if not 0 <= row < view.shape[0]:
                raise ValueError(f"column {name!r} points outside its block")
            if kind == "M":
                dates = view[row].view(f"datetime64[{sub}]")
                dtype = pd.DatetimeTZDtype(sub, tz) if tz else np.dtype(f"datetime64[{sub}]")
                singles.append((pd.array(dates, dtype=dtype), placement))
            elif kind == "n":
                if view.dtype.str != sub:
                    raise ValueError(f"column {name!r} dtype mismatch")
                numeric.setdefault(int(loc[0]), []).append((row, pos))
            else:
                raise ValueError(f"unknown column kind {kind!r}")
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
