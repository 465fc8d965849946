"""The producer's side of keeping consumers' copies exact, without I/O.

After each analysis the producer broadcasts either the whole frame or only the rows a
consumer that saw the previous broadcast lacks. :func:`plan_broadcast` makes that
choice; the consumer's rules that fold the result into its copy are in
:mod:`candlecast.messaging.session` and :mod:`candlecast.data.merge`.
"""

from __future__ import annotations

import pandas as pd

from candlecast.domain.analyzed import MAX_CANDLE_LIMIT


def plan_broadcast(
    frame: pd.DataFrame,
    previous_last: pd.Timestamp | None,
    is_new: bool,
    window_moved: bool,
) -> pd.DataFrame:
    """The rows of ``frame`` (a new analysis) to broadcast.

    Args:
        frame: the analyzed frame, sorted by date.
        previous_last: the last candle date of the previous analysis (None: the first
            analysis since the producer started).
        is_new: the frame ends on a candle the previous analysis did not have.
        window_moved: the producer dropped old candles since the previous analysis.

    The whole frame (its last ``MAX_CANDLE_LIMIT`` rows) when the history changed under
    the consumers (window trimmed) or this is the first analysis since the producer
    started, whose history may differ from what consumers kept from a previous run;
    else the rows after ``previous_last`` (new candles), or the last row re-analyzed.
    """
    if window_moved or previous_last is None:
        return frame.tail(MAX_CANDLE_LIMIT)
    part = frame[frame["date"] > previous_last] if is_new else frame.tail(1)
    if part.empty:
        part = frame.tail(1)
    return part.tail(MAX_CANDLE_LIMIT)
