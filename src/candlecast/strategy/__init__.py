"""The strategy API: what user strategies import.

``from candlecast.strategy import IStrategy, IntParameter, informative, merge_informative_pair, qtpylib``

The timeframe and stoploss helpers freqtrade strategies import from ``freqtrade.strategy``
are here too (``timeframe_to_minutes``, ``stoploss_from_open``, ...). Strategy files
written for freqtrade keep their ``freqtrade.*`` imports: the loader maps them to these
names (``candlecast.strategy.compat``).
"""

from candlecast.domain.enums import CandleType
from candlecast.domain.timeframes import (
    date_minus_candles,
    timeframe_to_minutes,
    timeframe_to_msecs,
    timeframe_to_next_date,
    timeframe_to_prev_date,
    timeframe_to_resample_freq,
    timeframe_to_seconds,
)
from candlecast.strategy import qtpylib
from candlecast.strategy.informative_decorator import informative
from candlecast.strategy.informative_pair import merge_informative_pair
from candlecast.strategy.interface import IStrategy
from candlecast.strategy.parameters import (
    BooleanParameter,
    CategoricalParameter,
    DecimalParameter,
    IntParameter,
    RealParameter,
)
from candlecast.strategy.stoploss_helpers import stoploss_from_absolute, stoploss_from_open

__all__ = [
    "BooleanParameter",
    "CandleType",
    "CategoricalParameter",
    "DecimalParameter",
    "IStrategy",
    "IntParameter",
    "RealParameter",
    "date_minus_candles",
    "informative",
    "merge_informative_pair",
    "qtpylib",
    "stoploss_from_absolute",
    "stoploss_from_open",
    "timeframe_to_minutes",
    "timeframe_to_msecs",
    "timeframe_to_next_date",
    "timeframe_to_prev_date",
    "timeframe_to_resample_freq",
    "timeframe_to_seconds",
]
