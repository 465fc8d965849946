"""Plain domain objects shared by every layer: candle types, timeframes, the candle contract."""

from candlecast.domain.candles import (
    DATE_DTYPE,
    OHLCV_COLUMNS,
    SIGNAL_COLUMNS,
    TAG_COLUMNS,
    empty_ohlcv,
    ms_to_dates,
)
from candlecast.domain.enums import CandleType, RunMode
from candlecast.domain.timeframes import (
    date_minus_candles,
    timeframe_to_minutes,
    timeframe_to_msecs,
    timeframe_to_next_date,
    timeframe_to_prev_date,
    timeframe_to_resample_freq,
    timeframe_to_seconds,
    timeframe_to_timedelta,
    validate_timeframe,
)

__all__ = [
    "DATE_DTYPE",
    "OHLCV_COLUMNS",
    "SIGNAL_COLUMNS",
    "TAG_COLUMNS",
    "CandleType",
    "RunMode",
    "date_minus_candles",
    "empty_ohlcv",
    "ms_to_dates",
    "timeframe_to_minutes",
    "timeframe_to_msecs",
    "timeframe_to_next_date",
    "timeframe_to_prev_date",
    "timeframe_to_resample_freq",
    "timeframe_to_seconds",
    "timeframe_to_timedelta",
    "validate_timeframe",
]
