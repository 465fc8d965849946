from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from candlecast.exceptions import ProtocolViolation
from candlecast.messaging.codec_binary import decode_frame, encode_frame
from candlecast.testing import make_ohlcv


def rich_frame(n: int = 40) -> pd.DataFrame:
    frame = make_ohlcv(n, seed=2)
    frame["nan_inf"] = np.where(
        np.arange(n) % 3 == 0, np.nan, np.where(np.arange(n) % 3 == 1, np.inf, -np.inf)
    )
    frame["enter_long"] = (np.arange(n) % 4 == 0).astype(np.int64)
    frame["exit_long"] = np.zeros(n, dtype=np.int64)
    frame["enter_tag"] = pd.array([None if i % 2 else f"t{i}" for i in range(n)], dtype="str")
    frame["flag"] = np.arange(n) % 2 == 0
    frame["f32"] = np.arange(n, dtype=np.float32)
    frame["objects"] = pd.Series([None, "x", 1, 2.5] * (n // 4), dtype=object)
    frame.loc[5, "date"] = pd.NaT
    return frame


@pytest.mark.parametrize(
    "index",
    [
        None,
        pd.RangeIndex(10, 50),
        pd.Index(np.arange(40) * 3),
        pd.Index([f"r{i}" for i in range(40)]),
    ],
)
def test_round_trip_is_exact(index: pd.Index | None):
    frame = rich_frame()
    if index is not None:
        frame.index = index
    meta, decoded = decode_frame(
        encode_frame({"type": "analyzed_df", "key": ["A/B", "1m", "spot"]}, frame)
    )
    assert meta == {"type": "analyzed_df", "key": ["A/B", "1m", "spot"]}
    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)


def test_empty_frame_round_trips():
    frame = make_ohlcv(0)
    _, decoded = decode_frame(encode_frame({}, frame))
    pd.testing.assert_frame_equal(decoded, frame)


def test_decoded_frame_is_writable():
    _, decoded = decode_frame(encode_frame({}, make_ohlcv(5)))
    decoded.loc[0, "close"] = 1.0
    assert decoded.loc[0, "close"] == 1.0


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:3],
        lambda b: b"XXXX" + b[4:],
        lambda b: b[:8] + b"X" + b[9:],
        lambda b: b[:-8],
        lambda b: struct.pack("<4sI", b"CCB1", 10**9) + b[8:],
    ],
)
def test_damaged_frames_are_protocol_violations(mutate):
    data = encode_frame({"type": "analyzed_df"}, make_ohlcv(5))
    with pytest.raises(ProtocolViolation):
        decode_frame(mutate(data))
