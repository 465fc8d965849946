"""Codec benchmarks: candlecast's encoders against the reference path (what freqtrade does)."""

from __future__ import annotations

import io
import json
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from benchmarks.fixtures import analyzed_frame
from candlecast.data.merge import merge_update
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.protocol import Encoding

KEY = ("BTC/USDT", "5m", CandleType.SPOT)
LA = datetime(2026, 11, 25, 10, 5, 1, tzinfo=UTC)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def ref_encode(frame: pd.DataFrame) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inner = frame.to_json(orient="split")
    return json.dumps(
        {
            "type": "analyzed_df",
            "data": {
                "key": [KEY[0], KEY[1], "spot"],
                "df": {"__type__": "dataframe", "__value__": inner},
                "la": LA.isoformat(),
            },
        }
    )


def ref_decode(text: str) -> pd.DataFrame:
    message = json.loads(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pd.read_json(io.StringIO(message["data"]["df"]["__value__"]), orient="split")
    frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
    return frame


def ref_merge(stored: pd.DataFrame, text: str) -> pd.DataFrame:
    incoming = ref_decode(text)
    merged = pd.concat(
        [stored[stored["date"] < incoming["date"].iloc[0]], incoming], ignore_index=True
    )
    return merged


#: the benchmarks' names for each encoding (as results.json has always had them)
_LABELS = {Encoding.JSON: "JSON", Encoding.BINARY: "binary"}


def run(quick: bool) -> list[dict]:
    repeat = 7 if quick else 25
    results = []
    full = analyzed_frame(1500, 48)
    ours_text = proto.encode_analyzed_df_json(KEY, full, LA)
    ref_text = ref_encode(full)
    assert (
        json.loads(ours_text)["data"]["df"]["__value__"]
        == json.loads(ref_text)["data"]["df"]["__value__"]
    )
    results.append(
        {
            "name": "encode analyzed_df JSON (compat)",
            "params": {"rows": 1500, "columns": 48},
            "candlecast_ms": median_ms(
                lambda: proto.encode_analyzed_df_json(KEY, full, LA), repeat
            ),
            "reference_ms": median_ms(lambda: ref_encode(full), repeat),
            "bytes": len(ours_text),
        }
    )
    decoded = proto.parse_message(ours_text).frame
    pd.testing.assert_frame_equal(decoded, ref_decode(ref_text), check_index_type="equiv")
    results.append(
        {
            "name": "decode analyzed_df JSON (compat)",
            "params": {"rows": 1500, "columns": 48},
            "candlecast_ms": median_ms(lambda: proto.parse_message(ours_text), repeat),
            "reference_ms": median_ms(lambda: ref_decode(ref_text), repeat),
            "bytes": len(ours_text),
        }
    )
    for columns in (18, 48):
        history = analyzed_frame(1501, columns, seed=columns)
        stored, update = history.iloc[:1500].reset_index(drop=True), history.iloc[1500:]
        ref_ms = median_ms(
            lambda stored=stored, t=ref_encode(update): ref_merge(stored, t), repeat * 2
        )
        for encoding in (Encoding.JSON, Encoding.BINARY):
            message = proto.encode_analyzed_df(encoding, KEY, update, LA)

            def ours(
                stored: pd.DataFrame = stored, msg: bytes = message, encoding: Encoding = encoding
            ) -> pd.DataFrame:
                return merge_update(
                    stored, proto.parse_message(msg, encoding).frame, "5m", False
                ).frame

            assert len(ours()) == 1500
            results.append(
                {
                    "name": f"1-candle update decoded and merged, {_LABELS[encoding]}",
                    "params": {"columns": columns},
                    "candlecast_ms": median_ms(ours, repeat * 2),
                    "reference_ms": ref_ms,
                    "bytes": len(message),
                }
            )
    binary = proto.encode_analyzed_df(Encoding.BINARY, KEY, full, LA)
    back = proto.parse_message(binary, Encoding.BINARY).frame
    pd.testing.assert_frame_equal(back, full, check_exact=True)
    results.append(
        {
            "name": "round trip 1500x48, binary vs reference JSON",
            "params": {
                "rows": 1500,
                "columns": 48,
                "bytes_vs_reference": round(len(binary) / len(ref_text), 3),
            },
            "candlecast_ms": median_ms(
                lambda: proto.parse_message(
                    proto.encode_analyzed_df(Encoding.BINARY, KEY, full, LA), Encoding.BINARY
                ),
                repeat,
            ),
            "reference_ms": median_ms(lambda: ref_decode(ref_encode(full)), repeat),
            "bytes": len(binary),
        }
    )
    return results
