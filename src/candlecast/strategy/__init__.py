"""The strategy API: what user strategies import.

``from candlecast.strategy import IStrategy, IntParameter, merge_informative_pair, qtpylib``
"""

from candlecast.domain.enums import CandleType
from candlecast.strategy import qtpylib
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
    "merge_informative_pair",
    "qtpylib",
]
