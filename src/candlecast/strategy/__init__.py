"""The strategy API: what user strategies import.

``from candlecast.strategy import IStrategy, IntParameter, informative, merge_informative_pair, qtpylib``

Strategy files written for freqtrade keep their ``freqtrade.*`` imports: the loader maps
them to these names (``candlecast.strategy.compat``).
"""

from candlecast.domain.enums import CandleType
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

__all__ = [
    "BooleanParameter",
    "CandleType",
    "CategoricalParameter",
    "DecimalParameter",
    "IStrategy",
    "IntParameter",
    "RealParameter",
    "informative",
    "merge_informative_pair",
    "qtpylib",
]
