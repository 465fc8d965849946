"""How a consumer folds an incoming ``analyzed_df`` into its stored copy (pure).

The rules follow freqtrade's consumer (see docs/protocol.md) with two fixes: a
frame that answers our own request seeds the store whatever its length (a young
producer with 50 candles works), and the caller keeps at most one outstanding
request per pair, so a gap can never cause a request storm.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from candlecast.domain.candles import SIGNAL_COLUMNS, TAG_COLUMNS
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.messaging.protocol import FULL_DATAFRAME_THRESHOLD, MAX_CANDLE_LIMIT

MAX_STORED_CANDLES = MAX_CANDLE_LIMIT


@dataclass(frozen=True)
class MergeResult:
    """What to do with an incoming frame.

    ``frame`` is the new stored frame (None: keep the stored one as it is);
    ``request_limit`` asks the producer for that many candles of the pair (None: ask nothing).
    """

    frame: pd.DataFrame | None
    request_limit: int | None
    reason: str


def strip_signals(frame: pd.DataFrame) -> pd.DataFrame:
    """Set entry/exit signals to 0 and tags to None (``remove_entry_exit_signals``)."""
    out = frame.copy()
    for column in SIGNAL_COLUMNS:
        if column in out.columns:
            out[column] = 0
    for column in TAG_COLUMNS:
        if column in out.columns:
            out[column] = None
    return out


def _trim(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) > MAX_STORED_CANDLES:
        frame = frame.iloc[-MAX_STORED_CANDLES:]
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def _dtypes(frame: pd.DataFrame) -> list[object]:
    """Column dtypes in order (pandas' block manager answers this far faster than
    ``frame.dtypes``, which builds a Series: this runs on every 1-candle update)."""
    mgr = getattr(frame, "_mgr", None)
    get_dtypes = getattr(mgr, "get_dtypes", None)
    if get_dtypes is not None:
        return list(get_dtypes().tolist())
    return list(frame.dtypes)


def _cast_exactly(column: pd.Series, dtype: object) -> pd.Series | None:
    """``column`` as ``dtype`` when every value survives the cast unchanged, else None."""
    try:
        cast = column.astype(dtype)
        same = cast.astype(object).equals(column.astype(object))
    except (TypeError, ValueError, OverflowError):
        return None
    return cast if same else None


def align_dtypes(stored: pd.DataFrame, incoming: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stored, incoming) with one dtype per column wherever the values allow it exactly.

    A 1-candle update is typed from its own values (over JSON: an integer column that
    lost its NA, a tag column that is null in this candle, a ``boolean`` column read as
    float with NA in the stored frame...). The update takes the stored dtype when its
    values fit it, else the stored column takes the update's (``bool`` → float64 when a
    null arrives), so the frame keeps the dtypes decoding it whole would give and
    ``~df["flag"]`` stays boolean. Anything else is left to pandas' common type.
    """
    theirs = _dtypes(stored)
    ours = _dtypes(incoming)
    if theirs == ours:
        return stored, incoming
    fixed_stored, fixed_incoming = stored, incoming
    for pos, (want, have) in enumerate(zip(theirs, ours, strict=True)):
        if want == have:
            continue
        cast = _cast_exactly(incoming.iloc[:, pos], want)
        if cast is not None:
            if fixed_incoming is incoming:
                fixed_incoming = incoming.copy(deep=False)
            fixed_incoming.isetitem(pos, cast)
            continue
        cast = _cast_exactly(stored.iloc[:, pos], have)
        if cast is not None:
            if fixed_stored is stored:
                fixed_stored = stored.copy(deep=False)
            fixed_stored.isetitem(pos, cast)
    return fixed_stored, fixed_incoming


def merge_update(
    stored: pd.DataFrame | None,
    incoming: pd.DataFrame,
    timeframe: str,
    requested: bool,
) -> MergeResult:
    """Decide how ``incoming`` changes ``stored``.

    Args:
        stored: the frame held for this (producer, key), or None.
        incoming: the decoded frame, sorted by date.
        timeframe: the key's timeframe, to measure gaps.
        requested: True when we asked for this pair and have not been answered yet.
    """
    if incoming.empty or "date" not in incoming.columns:
        return MergeResult(None, None, "empty or dateless frame ignored")
    dates = incoming["date"]
    first_new = dates.iloc[0]
    if pd.isna(first_new) or (
        len(dates) > 1
        and not (dates.is_monotonic_increasing and dates.is_unique and not dates.isna().any())
    ):
        return MergeResult(None, None, "frame with unsorted, duplicate or missing dates ignored")
    if len(incoming) >= FULL_DATAFRAME_THRESHOLD:
        return MergeResult(_trim(incoming), None, "full frame replaces the stored one")
    if stored is None or stored.empty:
        if requested:
            return MergeResult(_trim(incoming), None, "answer to our request seeds the store")
        return MergeResult(None, MAX_CANDLE_LIMIT, "nothing stored yet: ask for the full frame")
    if not stored.columns.equals(incoming.columns):
        if requested:
            return MergeResult(
                _trim(incoming), None, "answer with new columns replaces the stored frame"
            )
        return MergeResult(None, MAX_CANDLE_LIMIT, "columns changed: ask for the full frame")
    step = timeframe_to_msecs(timeframe)
    last_old = stored["date"].iloc[-1]
    gap = (first_new.value - last_old.value) // (step * 1_000_000)  # Timestamp.value: ns
    if gap > 1:
        limit = MAX_CANDLE_LIMIT if gap >= FULL_DATAFRAME_THRESHOLD else gap + 1
        return MergeResult(None, limit, f"{gap - 1} candles missing: ask for {limit}")
    stored, incoming = align_dtypes(stored, incoming)
    # the usual case, the next candle, needs no filtering of the stored rows
    kept = stored if first_new > last_old else stored[stored["date"] < first_new]
    room = MAX_STORED_CANDLES - len(incoming)
    if len(kept) > room:  # drop the oldest rows before joining, not after
        kept = kept.iloc[len(kept) - max(room, 0) :]
    merged = pd.concat([kept, incoming], ignore_index=True) if len(kept) else incoming
    return MergeResult(_trim(merged), None, "appended")
