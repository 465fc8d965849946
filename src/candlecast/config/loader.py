"""Load, merge and validate configuration files.

Files are JSON that may contain ``//`` and ``/* */`` comments and trailing commas.
Several files merge left to right (dicts deeply, everything else replaced), then
environment variables ``CANDLECAST__SECTION__KEY=value`` override single keys.
Every problem is collected and reported at once as a ``ConfigError`` whose lines
each name the key path, the value and what was expected.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from candlecast.config.models import SECRET_KEYS, Config
from candlecast.domain.features import config_keys, config_requests
from candlecast.exceptions import ConfigError
from candlecast.util.dicts import deep_merge

logger = logging.getLogger(__name__)

ENV_PREFIX = "CANDLECAST__"


def strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments and trailing commas outside strings."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            # keep newlines so that error line numbers stay right
            chunk = text[i : n if end < 0 else end + 2]
            out.append("\n" * chunk.count("\n"))
            i = n if end < 0 else end + 2
        elif ch in "]}":
            # drop a trailing comma before a closing bracket
            j = len(out) - 1
            while j >= 0 and out[j].isspace():
                j -= 1
            if j >= 0 and out[j] == ",":
                out[j] = " "
            out.append(ch)
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_config_text(text: str, source: str = "<config>") -> dict[str, Any]:
    """Parse commented JSON into a dict.

    Raises:
        ConfigError: the text is not valid JSON (the message names line and column).
    """
    cleaned = strip_json_comments(text)
    try:
        data = orjson.loads(cleaned)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a JSON object at the top level, got {type(data).__name__}"
        )
    return data


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``CANDLECAST__A__B=value`` variables into ``{"a": {"b": value}}``.

    Values that parse as JSON (numbers, booleans, lists) are taken as such; anything
    else is a string, and so is a secret (``ws_token``, ``password``, ...) unless it is a
    JSON list. Key case is kept after the prefix, so ``CORS_origins`` works.
    """
    result: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        path = [
            part.lower() if part.isupper() and part.lower() != "cors_origins" else part
            for part in path
        ]
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        if path[-1] in SECRET_KEYS and not isinstance(value, str | list):
            value = raw  # a token of digits is still a string
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return result


def load_raw_config(
    files: Iterable[str | Path], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Read and merge ``files`` and the environment into one raw dict."""
    merged: dict[str, Any] = {}
    for file in files:
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
        merged = deep_merge(merged, parse_config_text(text, str(path)))
    return deep_merge(merged, env_overrides(os.environ if environ is None else environ))


# pydantic names the branches of a union by type; they are not config keys
_BRANCH_LABELS = frozenset(
    {"float", "int", "str", "bool", "dict", "list", "none", "constrained-float"}
)
_PYDANTIC_WORDING = (
    ("Input should be", "expected"),
    ("Field required", "required key is missing"),
    ("expected a valid number, unable to parse string as a number", "expected a number"),
    ("expected a valid integer, unable to parse string as an integer", "expected an integer"),
    ("expected a valid string", "expected a string"),
    ("expected a valid dictionary", "expected an object"),
    ("expected a valid list", "expected a list"),
    ("expected a valid boolean, unable to interpret input", "expected true or false"),
)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (
            part.startswith(("function-", "literal[", "union[", "is-instance["))
            or part in _BRANCH_LABELS
        ):
            continue  # pydantic's internal branch labels
        else:
            out += f".{part}" if out else str(part)
    return out


def _show(value: Any, key: str) -> str:
    if key in SECRET_KEYS and isinstance(value, str) and value:
        return '"***"'
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_validation_error(error: ValidationError) -> list[str]:
    """Turn pydantic errors into one line each: ``path: expected X, got V``."""
    lines: list[str] = []
    seen: set[str] = set()
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = _format_loc(loc)
        msg = str(item["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        elif msg.startswith("Assertion failed, "):
            msg = msg[len("Assertion failed, ") :]
        for theirs, ours in _PYDANTIC_WORDING:
            msg = msg.replace(theirs, ours)
        last = next((p for p in reversed(loc) if isinstance(p, str)), "")
        if item["type"] not in ("missing", "value_error") and "got" not in msg:
            msg = f"{msg}, got {_show(item.get('input'), last)}"
        line = f"{path}: {msg}" if path else msg
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


def unknown_keys(
    raw: Mapping[str, Any], model: type[BaseModel] = Config, prefix: str = ""
) -> list[str]:
    """Return one warning per key of ``raw`` that ``model`` does not know, with a suggestion."""
    warnings: list[str] = []
    fields = model.model_fields
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            warnings.append(f"unknown configuration key {path!r} is ignored{hint}")
            continue
        annotation = fields[key].annotation
        sub = _submodel(annotation)
        if sub is None:
            continue
        if isinstance(value, Mapping):
            warnings.extend(unknown_keys(value, sub, f"{path}."))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    warnings.extend(unknown_keys(item, sub, f"{path}[{i}]."))
    return warnings


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def validate_config(raw: Mapping[str, Any]) -> Config:
    """Validate a raw dict into a ``Config``.

    Raises:
        ConfigError: with every problem found, one line each.
    """
    try:
        return Config.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_config(
    files: Iterable[str | Path],
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read, merge, override and validate; log unknown keys as warnings."""
    names = [str(f) for f in files]
    raw = load_raw_config(names, environ)
    if overrides:
        raw = deep_merge(raw, overrides)
    refused = unsupported_settings(raw, ", ".join(names))
    if refused:
        raise ConfigError(refused)
    # keys of domain.features that ask for nothing match what candlecast does: no warning
    understood = config_keys()
    for warning in unknown_keys({k: v for k, v in raw.items() if k not in understood}):
        logger.warning("%s", warning)
    return validate_config(raw)


def unsupported_settings(raw: Mapping[str, Any], source: str = "the config") -> list[str]:
    """One line per setting of ``raw`` that would change a trading decision in freqtrade
    but that candlecast does not do yet (``candlecast.domain.features.FEATURES``)."""
    return [
        f"{key}: asks for {feature}, which candlecast does not do yet; remove it from {source}"
        for feature, key in config_requests(raw)
    ]


def mask_secrets(data: Any) -> Any:
    """Return a copy of a config dict with every secret value replaced by ``***``."""
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in SECRET_KEYS and value:
                out[key] = ["***" for _ in value] if isinstance(value, list) else "***"
            else:
                out[key] = mask_secrets(value)
        return out
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    return data
