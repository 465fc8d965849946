"""Strategy parameters with a ``.value``, as in ``self.buy_rsi.value``.

Declared as class attributes; ``IStrategy`` binds each one to its attribute name so
a config ``strategy_parameters`` section (or ``{"buy_rsi": 35}``) can override it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class BaseParameter:
    """A tunable value; ``space`` is ``"buy"``, ``"sell"`` or any label."""

    def __init__(
        self, *, default: Any, space: str | None = None, optimize: bool = True, load: bool = True
    ) -> None:
        self.default = default
        self.space = space
        self.optimize = optimize
        self.load = load
        self.name = ""
        self.value = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def set(self, value: Any) -> None:
        """Set the value, checking it against the parameter's range.

        Raises:
            ValueError: ``value`` is outside the parameter's range or choices.
        """
        self.value = self._check(value)

    def _check(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}={self.value!r})"


class _Numeric(BaseParameter):
    kind: type = float

    def __init__(
        self, low: float, high: float | None = None, *, default: float, **kwargs: Any
    ) -> None:
        if high is None:
            # freqtrade also accepts IntParameter([low, high], default=...)
            if isinstance(low, Sequence) and len(low) == 2:
                low, high = low
            else:
                raise ValueError("a numeric parameter needs low and high")
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        self.low, self.high = low, high
        super().__init__(default=default, **kwargs)
        self.value = self._check(default)

    @property
    def range(self) -> tuple[float, float]:
        return (self.low, self.high)

    def _check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name or 'parameter'}: expected a number, got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"{self.name or 'parameter'}: expected a value in [{self.low}, {self.high}], got {value!r}"
            )
        return self.kind(value)


class IntParameter(_Numeric):
    kind = int

    def _check(self, value: Any) -> Any:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{self.name or 'parameter'}: expected an integer, got {value!r}")
        return super()._check(value)


class RealParameter(_Numeric):
    kind = float


class DecimalParameter(_Numeric):
    kind = float

    def __init__(
        self,
        low: float,
        high: float | None = None,
        *,
        default: float,
        decimals: int = 3,
        **kwargs: Any,
    ) -> None:
        self.decimals = decimals
        super().__init__(low, high, default=default, **kwargs)

    def _check(self, value: Any) -> Any:
        return round(super()._check(value), self.decimals)


class CategoricalParameter(BaseParameter):
    def __init__(self, categories: Sequence[Any], *, default: Any = None, **kwargs: Any) -> None:
        if len(categories) < 2:
            raise ValueError("CategoricalParameter needs at least two categories")
        self.categories = list(categories)
        super().__init__(default=self.categories[0] if default is None else default, **kwargs)
        self.value = self._check(self.default)

    def _check(self, value: Any) -> Any:
        if value not in self.categories:
            raise ValueError(
                f"{self.name or 'parameter'}: expected one of {self.categories}, got {value!r}"
            )
        return value


class BooleanParameter(CategoricalParameter):
    def __init__(self, *, default: bool = True, **kwargs: Any) -> None:
        super().__init__([True, False], default=default, **kwargs)
