"""An analyzed dataframe as producers and consumers exchange it: its key and size limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from candlecast.domain.enums import CandleType

# "Never analyzed": what a consumer reads for a key it holds no frame for.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The most candles a request may ask for, and the most a consumer keeps after appending.
MAX_CANDLE_LIMIT = 1500
# A frame of at least this many candles replaces the stored one whole.
FULL_DATAFRAME_THRESHOLD = 100


class PairKey(NamedTuple):
    """Which frame: the ``key`` of an ``analyzed_df`` message."""

    pair: str
    timeframe: str
    candle_type: CandleType
