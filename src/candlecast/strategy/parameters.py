"""Strategy parameters with a ``.value``, as in ``self.buy_rsi.value`` - freqtrade's semantics.

Declared as class attributes. A parameter belongs to the space ``buy``, ``sell`` or
``protection`` (``space=``, or its name's ``buy_``/``sell_``/``protection_`` prefix); its
value comes, highest precedence first, from the strategy's parameter file, the strategy's
``buy_params``/``sell_params``/``protection_params`` dicts, then its default
(see :func:`apply_parameters`). As in freqtrade, values are not checked against the range:
a default or a loaded value outside ``low..high`` (or the choices) is used as given.
Outside hyperopt - candlecast never optimizes - ``.range`` holds only the current value.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from candlecast.exceptions import StrategyError

logger = logging.getLogger(__name__)

SPACES = ("buy", "sell", "protection")


class BaseParameter:
    """A tunable value; ``category`` (the ``space=`` argument) is ``"buy"``, ``"sell"``, ...

    Extra keyword arguments (freqtrade passes them to the optimizer) are kept unused.
    """

    in_space: bool = False  # True only while a hyperopt explores this space (never here)

    def __init__(
        self,
        *,
        default: Any,
        space: str | None = None,
        optimize: bool = True,
        load: bool = True,
        **kwargs: Any,
    ) -> None:
        if "name" in kwargs:
            raise ValueError("a parameter's name is its attribute name; do not pass name=")
        self.default = default
        self.category = space
        self.optimize = optimize
        self.load = load
        self.name = ""
        self.value = default
        self._space_params = kwargs

    @property
    def space(self) -> str | None:
        return self.category

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def can_optimize(self) -> bool:
        return self.in_space and self.optimize

    def set(self, value: Any) -> None:
        """Set the value, checking it against the parameter's range (a candlecast extra).

        Raises:
            ValueError: ``value`` is outside the parameter's range or choices.
        """
        self.value = self._check(value)

    def _check(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class NumericParameter(BaseParameter):
    """``low``/``high`` given as two numbers or as one ``[low, high]`` sequence."""

    def __init__(
        self,
        low: float | Sequence[float],
        high: float | None = None,
        *,
        default: float,
        **kwargs: Any,
    ) -> None:
        if high is not None and isinstance(low, Sequence):
            raise ValueError(f"{type(self).__name__}: give [low, high] or low and high, not both")
        if high is None or isinstance(low, Sequence):
            if not isinstance(low, Sequence) or len(low) != 2:
                raise ValueError(f"{type(self).__name__}: expected low and high, or [low, high]")
            low, high = low
        self.low, self.high = low, high
        super().__init__(default=default, **kwargs)

    def _check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name or 'parameter'}: expected a number, got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"{self.name or 'parameter'}: expected a value in [{self.low}, {self.high}], got {value!r}"
            )
        return value


class IntParameter(NumericParameter):
    @property
    def range(self) -> range:
        """Every value from low to high in hyperopt; outside it only the current value."""
        if self.can_optimize():
            return range(int(self.low), int(self.high) + 1)
        return range(self.value, self.value + 1)

    def _check(self, value: Any) -> Any:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{self.name or 'parameter'}: expected an integer, got {value!r}")
        return int(super()._check(value))


class RealParameter(NumericParameter):
    def _check(self, value: Any) -> Any:
        return float(super()._check(value))


class DecimalParameter(NumericParameter):
    def __init__(
        self,
        low: float | Sequence[float],
        high: float | None = None,
        *,
        default: float,
        decimals: int = 3,
        **kwargs: Any,
    ) -> None:
        self._decimals = decimals
        super().__init__(low, high, default=round(default, decimals), **kwargs)

    @property
    def decimals(self) -> int:
        return self._decimals

    @property
    def range(self) -> list[float]:
        """Every step of ``10**-decimals`` from low to high in hyperopt; else ``[value]``."""
        if self.can_optimize():
            scale = 10**self._decimals
            low, high = int(self.low * scale), int(self.high * scale) + 1
            return [round(n * 0.1**self._decimals, self._decimals) for n in range(low, high)]
        return [self.value]

    def _check(self, value: Any) -> Any:
        return round(float(super()._check(value)), self._decimals)


class CategoricalParameter(BaseParameter):
    """One of ``categories``; without a default the value is ``None`` (as in freqtrade)."""

    def __init__(self, categories: Sequence[Any], *, default: Any = None, **kwargs: Any) -> None:
        if len(categories) < 2:
            raise ValueError("CategoricalParameter needs at least two categories")
        self.opt_range = categories
        super().__init__(default=default, **kwargs)

    @property
    def categories(self) -> list[Any]:
        return list(self.opt_range)

    @property
    def range(self) -> Sequence[Any]:
        if self.can_optimize():
            return self.opt_range
        return [self.value]

    def _check(self, value: Any) -> Any:
        if value not in self.opt_range:
            raise ValueError(
                f"{self.name or 'parameter'}: expected one of {list(self.opt_range)}, got {value!r}"
            )
        return value


class BooleanParameter(CategoricalParameter):
    def __init__(self, *, default: Any = None, **kwargs: Any) -> None:
        super().__init__([True, False], default=default, **kwargs)


# --- which parameter belongs where ----------------------------------------------------


def detect_parameters(obj: object, space: str) -> Iterator[tuple[str, BaseParameter]]:
    """Yield ``(name, parameter)`` of ``obj`` in ``space``: declared with ``space=`` or,
    without one, named ``<space>_...``.

    Raises:
        StrategyError: a parameter is named ``<space>_...`` but declared in another space.
    """
    for name in dir(obj):
        if name.startswith("__"):
            continue
        attr = getattr(obj, name, None)
        if not isinstance(attr, BaseParameter):
            continue
        prefixed = name.startswith(space + "_")
        if prefixed and attr.category is not None and attr.category != space:
            raise StrategyError(
                f"parameter {name} is named for the {space} space but declared with "
                f"space={attr.category!r}; rename it or change its space"
            )
        if attr.category == space or (prefixed and attr.category is None):
            yield name, attr


def read_parameter_file(strategy_file: str | Path, class_name: str) -> dict[str, Any]:
    """Read freqtrade's parameter file beside ``strategy_file`` (same name, ``.json``).

    Returns the file's ``params`` dict, or ``{}`` when there is no file.

    Raises:
        StrategyError: the file is not valid JSON, not freqtrade's layout, or was written
            for another strategy class.
    """
    path = Path(strategy_file).with_suffix(".json")
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StrategyError(f"parameter file {str(path)!r} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("params", {}), dict):
        raise StrategyError(
            f'parameter file {str(path)!r}: expected {{"strategy_name": ..., "params": {{...}}}}'
        )
    if data.get("strategy_name") != class_name:
        raise StrategyError(
            f"parameter file {str(path)!r} is for strategy {data.get('strategy_name')!r}, "
            f"not {class_name}"
        )
    logger.info("Loading parameters from file %s", path)
    params: dict[str, Any] = data.get("params", {})
    return params


def apply_file_settings(strategy: Any, params: Mapping[str, Any]) -> None:
    """Let the parameter file's roi/stoploss/trailing/max_open_trades replace class attributes."""
    if "roi" in params:
        strategy.minimal_roi = params["roi"]
    stoploss = params.get("stoploss") or {}
    if "stoploss" in stoploss:
        strategy.stoploss = stoploss["stoploss"]
    mot = params.get("max_open_trades") or {}
    if "max_open_trades" in mot:
        value = mot["max_open_trades"]
        strategy.max_open_trades = math.inf if value == -1 else value
    trailing = params.get("trailing") or {}
    for key in (
        "trailing_stop",
        "trailing_stop_positive",
        "trailing_stop_positive_offset",
        "trailing_only_offset_is_reached",
    ):
        if key in trailing:
            setattr(strategy, key, trailing[key])


def apply_parameters(strategy: Any, file_params: Mapping[str, Any]) -> None:
    """Give each parameter its value: parameter file, then ``<space>_params``, then default."""
    for space in SPACES:
        values = dict(getattr(strategy, f"{space}_params", None) or {})
        values.update(file_params.get(space) or {})
        for name, param in detect_parameters(strategy, space):
            param.name = name
            if param.category is None:
                param.category = space
            if name not in values:
                continue
            if param.load:
                param.value = values[name]
                logger.debug("Strategy parameter %s = %r", name, param.value)
            else:
                logger.warning(
                    "Parameter %s has load=False: keeping its default %r", name, param.value
                )
