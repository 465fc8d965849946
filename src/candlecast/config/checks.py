"""Strict value checks for config fields, with messages a user can act on.

freqtrade validates its config with a JSON schema: an integer must be a JSON integer (not
``"8080"``, ``8080.0`` or ``true``), a boolean must be ``true``/``false``. These checks do
the same and say so in one line: what was expected and what was found. Secret values are
never echoed, only their kind.

Use them as ``Annotated[int, BeforeValidator(integer(0, 65535))]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

Check = Callable[[Any], Any]


def kind(value: Any) -> str:
    """The JSON kind of ``value``: 'a string', 'a number', 'true', 'null', 'a list', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: Any) -> str:
    """``value`` as it reads in a JSON config, kind added where JSON alone misleads."""
    if isinstance(value, dict | list | tuple):
        return kind(value)  # never dump a whole object: it may hold secrets
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, str):
        try:
            looks_like_json = not isinstance(orjson.loads(value), str)
        except orjson.JSONDecodeError:
            looks_like_json = False
        if looks_like_json:
            return f"{text} (a string)"  # "8080", "true": say why it is refused
    return text


def integer(low: int, high: int | None = None, hint: str = "") -> Check:
    """A JSON integer in ``[low, high]`` (no bool, no float, no numeric string)."""
    span = f"from {low} to {high}" if high is not None else f">= {low}"
    expected = f"expected an integer {span}{hint}"

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{expected}, got {shown(value)}")
        if value < low or (high is not None and value > high):
            raise ValueError(f"{expected}, got {value}")
        return value

    return check


def boolean(value: Any) -> Any:
    """A JSON boolean (``true``/``false``), not ``"true"`` nor ``1``."""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


def string(value: Any) -> Any:
    """A JSON string."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {shown(value)}")
    return value


def secret_string(value: Any) -> Any:
    """A JSON string, not empty nor only blanks, whose value is never shown."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {kind(value)}")
    if not value.strip():
        raise ValueError("expected a non-empty token; candlecast refuses empty secrets")
    return value


def string_list(value: Any) -> Any:
    """A JSON list of strings."""
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {shown(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"expected a list of strings, item [{i}] is {kind(item)}")
    return value
