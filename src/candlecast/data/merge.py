"""How a consumer folds an incoming ``analyzed_df`` into its stored copy (pure).

The rules are freqtrade's consumer's (checked on its golden vectors) with one fix: a
small frame that answers our own request seeds the store whatever its length (a young
producer with 50 candles works; freqtrade asks again forever). The caller
(:class:`candlecast.messaging.session.ConsumerSession`) keeps at most one outstanding
request per pair, so a gap can never cause a request storm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.domain.analyzed import FULL_DATAFRAME_THRESHOLD, MAX_CANDLE_LIMIT
from candlecast.domain.candles import SIGNAL_COLUMNS, TAG_COLUMNS
from candlecast.domain.timeframes import timeframe_to_msecs

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
    """``remove_entry_exit_signals``: every signal column 0 and both tags None.

    As freqtrade does, the columns are set whether or not the frame had them (a
    missing one is added at the end), so a strategy can always read ``enter_short``.
    """
    out = frame.copy()
    for column in SIGNAL_COLUMNS:
        out[column] = 0
    for column in TAG_COLUMNS:
        out[column] = None
    return out


def _micros(stamp: pd.Timestamp) -> int:
    """Epoch microseconds as a Python int (no overflow, whatever the date)."""
    return int(stamp.asm8.astype("datetime64[us]").astype(np.int64))


def _dates_usable(dates: pd.Series) -> bool:
    if pd.isna(dates.iloc[0]):
        return False
    return len(dates) == 1 or bool(
        dates.is_monotonic_increasing and dates.is_unique and not dates.isna().any()
    )


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
    if not stored.columns.equals(incoming.columns):
        return stored, incoming  # columns changed: pandas aligns them by name
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

    A frame of ``FULL_DATAFRAME_THRESHOLD`` candles or more replaces the stored one as
    it is (index included). A smaller one replaces the stored candles from its first
    date on; when candles would be missing between the two, or nothing is stored, the
    producer is asked for them (plus one of overlap; 1500 for a long gap).

    Args:
        stored: the frame held for this (producer, key), or None.
        incoming: the decoded frame, sorted by date.
        timeframe: the key's timeframe, to measure gaps.
        requested: True when we asked for this pair and have not been answered yet.
    """
    if incoming.empty or "date" not in incoming.columns:
        return MergeResult(None, None, "empty or dateless frame ignored")
    dates = incoming["date"]
    if not _dates_usable(dates):
        return MergeResult(None, None, "frame with unsorted, duplicate or missing dates ignored")
    if len(incoming) >= FULL_DATAFRAME_THRESHOLD:
        return MergeResult(incoming, None, "full frame replaces the stored one")
    if stored is None or stored.empty:
        if requested:
            return MergeResult(incoming, None, "answer to our request seeds the store")
        return MergeResult(None, MAX_CANDLE_LIMIT, "nothing stored yet: ask for the full frame")
    first_new = dates.iloc[0]
    last_old = stored["date"].iloc[-1]
    # in candle intervals; a fraction counts (a misaligned candle 1.5 intervals later is a gap)
    step = timeframe_to_msecs(timeframe) * 1000
    candles = (_micros(first_new) - _micros(last_old)) / step
    if candles > 1:
        # ask from the last stored candle (one of overlap) to the last one received:
        # freqtrade's rule for its 1-candle broadcasts, and whole for longer updates
        wanted = int((_micros(dates.iloc[-1]) - _micros(last_old)) / step) + 1
        limit = wanted if wanted < FULL_DATAFRAME_THRESHOLD else MAX_CANDLE_LIMIT
        return MergeResult(None, limit, f"{int(candles) - 1} candles missing: ask for {limit}")
    stored, incoming = align_dtypes(stored, incoming)
    # the usual case, the next candle, needs no filtering of the stored rows
    kept = stored if first_new > last_old else stored[stored["date"] < first_new]
    if kept.empty:
        return MergeResult(incoming, None, "replaces every stored candle")
    room = MAX_STORED_CANDLES - len(incoming)
    if len(kept) > room:  # drop the oldest rows before joining, not after
        kept = kept.iloc[len(kept) - max(room, 0) :]
    return MergeResult(pd.concat([kept, incoming], ignore_index=True), None, "appended")
