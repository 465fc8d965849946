"""The consumer's rules are freqtrade's: its recorded message sequences, replayed.

``consumer_sequences.json`` holds the exact producer texts fed to freqtrade 2026.9's
consumer and, after each, the requests it sent and what ``DataProvider.get_producer_df``
/ ``get_producer_pairs`` returned. Each sequence runs here on a fresh
:class:`ConsumerSession` per producer (connected, past its initial sync, so no request is
pending) whose actions fill a real ``ProducerStore`` read through candlecast's
``DataProvider``.

The session logic (requests, rows, la, columns, dates, index values) is checked first;
then what depends on the decoder as well (dtypes, index type, the last row and the
whole frame, bit for bit).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from candlecast.data.dataprovider import DataProvider
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import EPOCH
from candlecast.domain.enums import CandleType
from candlecast.exceptions import ProtocolViolation
from candlecast.messaging.session import (
    INITIAL_SYNC_WINDOW,
    ConsumerSession,
    SendRequest,
    SessionSettings,
    SetPairs,
    StoreFrame,
)
from tests import golden

VECTORS = golden.load("consumer_sequences")
SEQUENCES = {s["name"]: s for s in VECTORS["sequences"]}
NOW = INITIAL_SYNC_WINDOW + 1.0  # after the initial sync: only our own requests are pending

_FULL = '{{"type":"analyzed_df","data":{{"limit":1500,"pair":"{}"}}}}'

# Where candlecast deliberately differs: the sequence, why, and what we do instead
# (per step: the requests sent and the rows then stored for the probed key).
DELIBERATE: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "07 producer has fewer than 100 candles": (
        "freqtrade never stores a producer frame of fewer than 100 candles, even the answer "
        "to its own request, and asks again after every message: a young producer never "
        "reaches its consumers. candlecast stores the answer to its request, then appends.",
        [
            {"requests": [_FULL.format("BTC/USDT")], "rows": 0},
            {"requests": [], "rows": 50},
            {"requests": [], "rows": 51},
        ],
    ),
}

# Sequences whose stored frame holds a float freqtrade's JSON reader gets one ulp off
# (pandas' fast float parser); candlecast's decoder reads every number correctly rounded
# (a deliberate difference of the wire codec, docs/compat.md "Wire and dtypes"). Their
# floats are compared within one ulp, everything else exactly.
ULP_CASES = {
    "04 150 missing candles, then the answer (full frame)",
    "20 a full frame replaces a longer stored frame",
}


# Sequences where a 1-candle update brings a tag column that is None in every row while the
# stored column holds strings: freqtrade's concat turns the column into ``object``, candlecast
# keeps the stored ``str`` dtype (the dtype decoding the whole frame gives); the values are
# the same. docs/compat.md "Wire and dtypes".
STR_KEPT_CASES = {
    "17 bool column and tags: full frame, then 1-candle update whose tag is None",
    "23 tags None instead of empty strings (object column), then 1-candle updates",
}


def _expand(runs: list[list[int]]) -> list[int]:
    """``[[first, count, step], ...]`` back into the integer sequence it describes."""
    return [first + i * step for first, count, step in runs for i in range(count)]


def _epoch_ms(dates: pd.Series) -> list[int]:
    return [int(ms) for ms in pd.DatetimeIndex(dates).as_unit("ms").asi8]


class Replay:
    """One sequence: a session per producer, one store, candlecast's DataProvider."""

    def __init__(self, sequence: dict[str, Any]) -> None:
        settings = SessionSettings(remove_entry_exit_signals=sequence["remove_entry_exit_signals"])
        self.store = ProducerStore()
        self.dp = DataProvider("5m", CandleType.SPOT, self.store)
        self.sessions = {name: ConsumerSession(settings) for name in sequence["producers"]}
        self.opening = {
            name: [a.text for a in session.on_open(0.0) if isinstance(a, SendRequest)]
            for name, session in self.sessions.items()
        }

    def feed(self, producer: str, text: str) -> list[dict[str, str]]:
        """Hand one message to ``producer``'s session; return the requests it sent."""
        try:
            actions = self.sessions[producer].on_data(text, NOW)
        except ProtocolViolation:
            return []  # refused whole, as freqtrade drops a message that fails validation
        sent = []
        for action in actions:
            if isinstance(action, StoreFrame):
                self.store.put(producer, action.key, action.frame, action.analyzed_at, NOW)
            elif isinstance(action, SetPairs):
                self.store.set_pairs(producer, action.pairs)
            else:
                assert isinstance(action, SendRequest), action
                sent.append({"producer": producer, "text": action.text})
        return sent

    def probe(self, probe: dict[str, Any]) -> tuple[pd.DataFrame, Any]:
        pair, timeframe, candle_type = probe["key"]
        return self.dp.get_producer_df(pair, timeframe, candle_type, probe["producer"])


def check_session_state(frame: pd.DataFrame, la: Any, want: dict[str, Any], what: str) -> None:
    """What the session decides: rows, la, columns, dates, index values."""
    assert len(frame) == want["rows"], f"{what}: {len(frame)} rows, expected {want['rows']}"
    assert la.isoformat() == want["la"]["iso"], f"{what}: la {la.isoformat()}"
    assert (la - EPOCH) // timedelta(microseconds=1) == want["la"]["epoch_us"], what
    assert la.utcoffset().total_seconds() == want["la"]["utcoffset_s"], what
    if "columns" not in want:
        assert frame.columns.empty, f"{what}: columns {list(frame.columns)}, expected none"
        return
    assert list(frame.columns) == want["columns"], f"{what}: columns {list(frame.columns)}"
    dates = _epoch_ms(frame["date"])
    assert dates == _expand(want["dates_ms"]), f"{what}: dates differ"
    assert dates[0] == want["first_date_ms"] and dates[-1] == want["last_date_ms"], what
    assert list(frame.index) == _expand(want["index"]["runs"]), f"{what}: index values"


def _str_as_object(frame: pd.DataFrame, want: dict[str, Any], what: str) -> pd.DataFrame:
    """``frame`` with each kept ``str`` column where freqtrade has ``object`` as freqtrade
    reads it; asserts only such columns differ in dtype."""
    frame = frame.copy()
    for name, dtype in zip(want["columns"], want["dtypes"], strict=True):
        if str(frame[name].dtype) != dtype:
            assert (str(frame[name].dtype), dtype) == ("str", "object"), f"{what} [{name}]"
            frame[name] = frame[name].astype(object)
    return frame


def check_decoded_state(
    frame: pd.DataFrame, want: dict[str, Any], what: str, ulp: bool = False, str_kept: bool = False
) -> None:
    """What the decoder decides too: dtypes, index type, last row and frame bit for bit."""
    if "columns" not in want:
        return
    if str_kept:
        frame = _str_as_object(frame, want, what)
    assert [str(d) for d in frame.dtypes] == want["dtypes"], f"{what}: dtypes {frame.dtypes}"
    runs = _expand(want["index"]["runs"])
    expected_index = (
        pd.RangeIndex(runs[0], runs[-1] + 1)
        if want["index"]["type"] == "RangeIndex"
        else pd.Index(runs, dtype="int64")
    )
    # a RangeIndex holding the same labels stands for freqtrade's int64 Index, as in the
    # wire vectors (golden.assert_index_equal)
    golden.assert_index_equal(frame.index, expected_index, f"{what} index")
    for name, dtype, value in zip(want["columns"], want["dtypes"], want["last_row"], strict=True):
        expected = pd.Series(
            golden.decode_values(dtype, [value]),
            name=name,
            dtype=object if dtype == "object" else None,
        )
        golden.assert_exact(
            frame[name].iloc[-1:].reset_index(drop=True), expected, f"{what} last row [{name}]"
        )
    if "frame" not in want:
        return
    expected = golden.decode(want["frame"])
    if ulp:
        assert_floats_within_one_ulp(frame, expected, what)
        return
    golden.assert_exact(frame, expected, f"{what} frame")


def assert_floats_within_one_ulp(frame: pd.DataFrame, expected: pd.DataFrame, what: str) -> None:
    golden.assert_index_equal(frame.index, expected.index, f"{what} index")
    for name in expected.columns:
        if expected[name].dtype == np.float64:
            np.testing.assert_array_max_ulp(
                frame[name].to_numpy(), expected[name].to_numpy(), maxulp=1
            )
            continue
        golden.assert_exact(frame[[name]], expected[[name]], f"{what} frame[{name!r}]")


@pytest.mark.parametrize("name", [pytest.param(name, id=name[:2]) for name in SEQUENCES])
def test_consumer_replays_freqtrades_sequence(name: str):
    sequence = SEQUENCES[name]
    replay = Replay(sequence)
    for producer, texts in replay.opening.items():
        assert texts == VECTORS["initial_requests"], f"initial requests to {producer}"
    ours = DELIBERATE.get(name, (None, None))[1]
    decoded_checks: list[tuple[pd.DataFrame, dict[str, Any], str]] = []
    for i, (step, after) in enumerate(zip(sequence["steps"], sequence["after"], strict=True)):
        what = f"step {i} ({step['describe']})"
        sent = replay.feed(step["producer"], step["message"])
        assert "raises" not in after, what
        if ours is not None:  # a deliberate difference: assert our behaviour instead
            assert sent == [{"producer": "default", "text": t} for t in ours[i]["requests"]]
            frame, _ = replay.probe(after["state"][0])
            assert len(frame) == ours[i]["rows"], what
            continue
        assert sent == after["requests"], f"{what}: requests"
        pairs = {p: replay.dp.get_producer_pairs(p) for p in sequence["producers"]}
        assert pairs == after["producer_pairs"], f"{what}: producer pairs"
        for want in after.get("state", []):
            frame, la = replay.probe(want)
            where = f"{what} {want['key']} from {want['producer']}"
            check_session_state(frame, la, want, where)
            decoded_checks.append((frame, want, where))
    for frame, want, where in decoded_checks:
        check_decoded_state(
            frame, want, where, ulp=name in ULP_CASES, str_kept=name in STR_KEPT_CASES
        )


def test_every_deliberate_difference_names_a_recorded_sequence():
    assert set(DELIBERATE) <= set(SEQUENCES)
    assert set(ULP_CASES) <= set(SEQUENCES)
    assert set(STR_KEPT_CASES) <= set(SEQUENCES)
    assert len(SEQUENCES) == 23 and sum(len(s["steps"]) for s in SEQUENCES.values()) == 73
