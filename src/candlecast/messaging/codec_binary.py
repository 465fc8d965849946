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
    body: list[bytes] = []
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
        raw = np.ascontiguousarray(block).tobytes()
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
        columns: dict[str, Any] = {}
        # the widest numeric block becomes the frame's first block in one piece (a 2-D
        # copy); the other columns are inserted at their positions
        base = max(range(len(blocks)), key=lambda b: int(blocks[b][1]), default=None)
        base_names: list[str] = []
        for name, kind, sub, tz, loc in cols:
            if name in columns:
                raise ValueError(f"duplicate column {name!r}")
            if kind == "o":
                values = objects[name]
                if not isinstance(values, list) or len(values) != n:
                    raise ValueError(f"object column {name!r} has the wrong length")
                columns[name] = (
                    pd.array(values, dtype="str")
                    if sub == "str"
                    else np.array(values, dtype=object)
                )
                continue
            # a read-only view of the frame; DataFrame(dict) below copies it into its own block
            values = views[loc[0]][loc[1]]
            if kind == "M":
                dates = pd.DatetimeIndex(values.view(f"datetime64[{sub}]"))
                columns[name] = dates.tz_localize("UTC").tz_convert(tz) if tz else dates
            elif kind == "n":
                if values.dtype.str != sub:
                    raise ValueError(f"column {name!r} dtype mismatch")
                columns[name] = values
                if loc[0] == base:
                    base_names.append(name)
            else:
                raise ValueError(f"unknown column kind {kind!r}")
        idx = header.get("idx", ["range", 0, 1])
        if idx[0] == "range":
            index: pd.Index = pd.RangeIndex(int(idx[1]), int(idx[1]) + n * int(idx[2]), int(idx[2]))
        else:
            index = pd.Index(idx[1])
            if len(index) != n:
                raise ValueError("index length")
        frame = _assemble(
            columns, base_names, views[base] if base is not None else None, [c[0] for c in cols], n
        )
        frame.index = index
    except ProtocolViolation:
        raise
    except (KeyError, ValueError, TypeError, IndexError, orjson.JSONDecodeError) as exc:
        raise ProtocolViolation(f"binary frame: {exc}") from None
    meta = {k: v for k, v in header.items() if k not in ("n", "cols", "blocks", "obj", "idx")}
    return meta, frame


def _assemble(
    columns: dict[str, Any],
    base_names: list[str],
    base_view: np.ndarray | None,
    order: list[str],
    n: int,
) -> pd.DataFrame:
    if base_view is None or len(base_names) != base_view.shape[0]:
        return pd.DataFrame(columns, copy=True)
    frame = pd.DataFrame(np.array(base_view.T), columns=base_names)
    base_set = set(base_names)
    for pos, name in enumerate(order):
        if name not in base_set:
            values = columns[name]
            frame.insert(pos, name, values.copy() if isinstance(values, np.ndarray) else values)
    return frame
