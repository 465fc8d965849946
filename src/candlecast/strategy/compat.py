"""freqtrade's import names for strategy files, mapped to candlecast - for strategy files only.

A strategy file loaded by candlecast gets its own ``__import__`` (through the module's
``__builtins__``): ``freqtrade`` and ``freqtrade.*`` names resolve to the shim modules
built here, every other import goes to Python's. Nothing is added to ``sys.modules`` and
no package named ``freqtrade`` is installed, so a real freqtrade beside candlecast, or
any other module, keeps importing what it always did - before, during and after a
strategy is loaded. Imports a strategy makes inside its methods get the same mapping.

``MODULES`` is the mapping: freqtrade module -> {name: "candlecast.module:attribute"}.
A name is resolved on first use; a freqtrade module or name not listed is an ImportError
that names it.
"""

from __future__ import annotations

import builtins
import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from candlecast.exceptions import StrategyError

ROOT = "freqtrade"

_PARAMS = {
    name: f"candlecast.strategy.parameters:{name}"
    for name in (
        "BaseParameter",
        "NumericParameter",
        "IntParameter",
        "RealParameter",
        "DecimalParameter",
        "CategoricalParameter",
        "BooleanParameter",
    )
}
_TIMEFRAMES = {
    name: f"candlecast.domain.timeframes:{name}"
    for name in (
        "timeframe_to_seconds",
        "timeframe_to_minutes",
        "timeframe_to_msecs",
        "timeframe_to_prev_date",
        "timeframe_to_next_date",
        "timeframe_to_resample_freq",
        "date_minus_candles",
    )
}
_HELPERS = {
    "merge_informative_pair": "candlecast.strategy.informative_pair:merge_informative_pair",
    "stoploss_from_open": "candlecast.strategy:stoploss_from_open",
    "stoploss_from_absolute": "candlecast.strategy:stoploss_from_absolute",
}
_PERSISTENCE = {
    "Trade": "candlecast.strategy.compat:trade_class",
    "Order": "candlecast.strategy.compat:Order",
    "PairLocks": "candlecast.strategy.compat:PairLocks",
}
_ENUMS = {
    "CandleType": "candlecast.domain.enums:CandleType",
    "RunMode": "candlecast.domain.enums:RunMode",
    **{
        name: f"candlecast.strategy.ftenums:{name}"
        for name in (
            "ExitType",
            "SignalDirection",
            "SignalType",
            "SignalTagType",
            "TradingMode",
            "MarginMode",
            "State",
        )
    },
}
_QTPYLIB = "candlecast.strategy.qtpylib:*"

MODULES: dict[str, dict[str, str]] = {
    "freqtrade": {},
    "freqtrade.strategy": {
        "IStrategy": "candlecast.strategy.interface:IStrategy",
        "informative": "candlecast.strategy.informative_decorator:informative",
        **_PARAMS,
        **{k: v for k, v in _TIMEFRAMES.items() if k != "timeframe_to_resample_freq"},
        **_HELPERS,
        **_PERSISTENCE,
    },
    "freqtrade.strategy.interface": {"IStrategy": "candlecast.strategy.interface:IStrategy"},
    "freqtrade.strategy.hyper": dict(_PARAMS),
    "freqtrade.strategy.parameters": dict(_PARAMS),
    "freqtrade.strategy.informative_decorator": {
        "informative": "candlecast.strategy.informative_decorator:informative",
    },
    "freqtrade.strategy.strategy_helper": dict(_HELPERS),
    "freqtrade.vendor": {},
    "freqtrade.vendor.qtpylib": {},
    "freqtrade.vendor.qtpylib.indicators": {"*": _QTPYLIB},
    "freqtrade.persistence": dict(_PERSISTENCE),
    "freqtrade.exchange": dict(_TIMEFRAMES),
    "freqtrade.enums": dict(_ENUMS),
    "freqtrade.exceptions": {
        name: f"candlecast.strategy.compat:{name}"
        for name in (
            "FreqtradeException",
            "OperationalException",
            "DependencyException",
            "StrategyError",
        )
    },
    "freqtrade.constants": {
        name: f"candlecast.strategy.compat:{name}"
        for name in ("Config", "ListPairsWithTimeframes", "PairWithTimeframe")
    },
    "freqtrade.data": {},
    "freqtrade.data.dataprovider": {"DataProvider": "candlecast.data.dataprovider:DataProvider"},
}

# freqtrade.constants type aliases
Config = dict[str, Any]
PairWithTimeframe = tuple[str, str, Any]
ListPairsWithTimeframes = list[PairWithTimeframe]


class FreqtradeException(StrategyError):
    """What ``freqtrade.exceptions.*`` raised in a strategy become: a strategy error."""


class OperationalException(FreqtradeException):
    pass


class DependencyException(FreqtradeException):
    pass


class _Unsupported(type):
    def __getattr__(cls, name: str) -> Any:
        raise StrategyError(
            f"freqtrade.persistence.{cls.__name__}.{name} is not available in candlecast"
        )


class Order(metaclass=_Unsupported):
    """Placeholder so ``Order`` works in type annotations; its queries are not available."""


class PairLocks(metaclass=_Unsupported):
    """Placeholder so ``PairLocks`` imports; pair locks are not available."""


def trade_class() -> type:
    """The class candlecast's persistence (or domain) exports as ``Trade``."""
    persistence = importlib.import_module("candlecast.persistence")
    found = getattr(persistence, "Trade", None)
    if isinstance(found, type):
        return found
    from candlecast.domain.trades import Trade

    return Trade


_LAZY_FACTORIES = {"trade_class"}


class ShimModule(ModuleType):
    """A freqtrade module name whose attributes resolve to candlecast objects on first use."""

    def __init__(self, name: str, names: Mapping[str, str]) -> None:
        super().__init__(name, f"candlecast's stand-in for {name}")
        self.__path__: list[str] = []  # a package: submodules may be imported from it
        self._names = dict(names)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        target = self._names.get(attr)
        if target is None and "*" in self._names:
            module = importlib.import_module(self._names["*"].split(":")[0])
            if not attr.startswith("_") and hasattr(module, attr):
                value = getattr(module, attr)
                setattr(self, attr, value)
                return value
        if target is None:
            raise AttributeError(
                f"{self.__name__}.{attr} is not provided by candlecast's freqtrade import mapping"
            )
        value = _resolve(target)
        setattr(self, attr, value)
        return value

    @property
    def __all__(self) -> list[str]:
        if "*" in self._names:
            module = importlib.import_module(self._names["*"].split(":")[0])
            return [n for n in vars(module) if not n.startswith("_")]
        return [n for n in sorted(self._names) if self._available(n)]

    def _available(self, attr: str) -> bool:
        try:
            getattr(self, attr)
        except AttributeError:
            return False
        return True


def _resolve(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise AttributeError(f"{attr} is not available in candlecast yet") from None
    if attr in _LAZY_FACTORIES:
        value = value()
    return value


_lock = threading.Lock()
_tree: dict[str, ShimModule] = {}


def _modules() -> dict[str, ShimModule]:
    """The shim modules, built once and linked parent -> child as attributes."""
    with _lock:
        if not _tree:
            for name, names in MODULES.items():
                _tree[name] = ShimModule(name, names)
            for name, module in _tree.items():
                parent, _, child = name.rpartition(".")
                if parent:
                    setattr(_tree[parent], child, module)
        return _tree


def freqtrade_import(name: str, fromlist: Sequence[str] | None) -> ModuleType:
    """What ``import <name>`` / ``from <name> import ...`` gives a strategy file.

    Raises:
        ModuleNotFoundError: ``name`` is a freqtrade module candlecast does not map.
    """
    modules = _modules()
    module = modules.get(name)
    if module is None:
        raise ModuleNotFoundError(
            f"{name} is not one of the freqtrade modules candlecast provides "
            "(docs/strategy-api.md lists them)",
            name=name,
        )
    if fromlist:
        return module
    return modules[ROOT]


def is_freqtrade_name(name: str, level: int) -> bool:
    return level == 0 and (name == ROOT or name.startswith(ROOT + "."))


def strategy_builtins() -> dict[str, Any]:
    """A ``__builtins__`` dict for a strategy module: Python's, with the freqtrade mapping."""
    real_import: Callable[..., ModuleType] = builtins.__import__

    def strategy_import(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        if is_freqtrade_name(name, level):
            return freqtrade_import(name, fromlist)
        return real_import(name, globals, locals, fromlist, level)

    namespace = dict(vars(builtins))
    namespace["__import__"] = strategy_import
    return namespace


# pip packages for modules freqtrade strategies commonly import
PIP_NAMES = {
    "technical": "technical",
    "ta": "ta",
    "pandas_ta": "pandas-ta",
    "talib": "TA-Lib",
    "finta": "finta",
    "tapy": "tapy",
    "sklearn": "scikit-learn",
    "scipy": "scipy",
    "numba": "numba",
    "arrow": "arrow",
    "cachetools": "cachetools",
    "statsmodels": "statsmodels",
    "pandas_datareader": "pandas-datareader",
    "yfinance": "yfinance",
    "requests": "requests",
    "tulipy": "tulipy",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "catboost": "catboost",
    "torch": "torch",
    "tensorflow": "tensorflow",
}


def pip_name(module: str) -> str:
    top = module.split(".")[0]
    return PIP_NAMES.get(top, top.replace("_", "-"))
