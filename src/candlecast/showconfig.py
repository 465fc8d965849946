"""``candlecast show-config``: the values a bot runs with, and where each came from.

The effective config is the validated config with what the bot fills in at start: the
strategy's values for keys the config leaves unset (stoploss, minimal_roi, timeframe,
trailing settings, ...), the default database URL and, for an empty
``jwt_secret_key``, the words "random per run". Each leaf key's source is the last file
that set it, the environment variable, the command line, the strategy, or "default".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from candlecast.config import Config, mask_secrets
from candlecast.config.loader import ENV_PREFIX, env_overrides, parse_config_text
from candlecast.config.models import STRATEGY_OVERRIDES
from candlecast.persistence.repository import default_db_url

RANDOM_PER_RUN = "random per run"
#: Config keys a strategy supplies when the config leaves them unset.
FROM_STRATEGY = (
    "timeframe",
    "minimal_roi",
    "stoploss",
    *STRATEGY_OVERRIDES,
    "order_types",
    "order_time_in_force",
)

#: Keys whose value is a mapping of data, not of config keys: printed whole.
MAP_KEYS = frozenset(
    {"minimal_roi", "order_types", "order_time_in_force", "ccxt_config", "ccxt_async_config"}
)

Path_ = tuple[str | int, ...]


def leaves(data: Any, prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) of ``data`` whose value is not a dict or list of dicts."""
    if isinstance(data, Mapping) and data and not (prefix and prefix[-1] in MAP_KEYS):
        for key, value in data.items():
            yield from leaves(value, (*prefix, key))
    elif isinstance(data, list) and data and all(isinstance(v, Mapping) for v in data):
        for i, value in enumerate(data):
            yield from leaves(value, (*prefix, i))
    else:
        yield prefix, data


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _env_name(path: Path_, environ: Mapping[str, str]) -> str:
    wanted = [str(p).lower() for p in path]
    for name in environ:
        if name.startswith(ENV_PREFIX):
            parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
            if parts == wanted[: len(parts)]:
                return name
    return ENV_PREFIX + "__".join(str(p).upper() for p in path)


def value_sources(
    files: Iterable[str], environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> dict[str, str]:
    """Dotted key -> where its value was set (the last setter wins)."""
    sources: dict[str, str] = {}

    def mark(raw: Mapping[str, Any], source: str | None) -> None:
        for path, _ in leaves(raw):
            key = dotted(path)
            # a list or section replaced whole: its old leaves are gone
            for old in [k for k in sources if k.startswith((key + ".", key + "["))]:
                del sources[old]
            sources[key] = source or f"env {_env_name(path, environ)}"

    for name in files:
        mark(parse_config_text(Path(name).read_text(encoding="utf-8"), name), f"file {name}")
    mark(env_overrides(environ), None)
    mark(overrides, "command line")
    return sources


def effective(config: Config, strategy: Any | None) -> tuple[dict[str, Any], dict[str, str]]:
    """(the masked effective config, sources of the values filled in here)."""
    data = mask_secrets(config.model_dump(mode="json"))
    filled: dict[str, str] = {}
    if strategy is not None:
        name = f"strategy {type(strategy).__name__}"
        for key in FROM_STRATEGY:
            if data.get(key) is None and getattr(strategy, key, None) is not None:
                value = getattr(strategy, key)
                data[key] = dict(value) if isinstance(value, Mapping) else value
                for path, _ in leaves({key: data[key]}):
                    filled[dotted(path)] = name
    if data.get("db_url") is None:
        data["db_url"] = default_db_url(config.user_data_dir, config.dry_run)
        filled["db_url"] = "default (from user_data_dir and dry_run)"
    if not config.api_server.jwt_secret_key:
        data["api_server"]["jwt_secret_key"] = RANDOM_PER_RUN
        filled["api_server.jwt_secret_key"] = "default"
    return data, filled


def render(data: dict[str, Any], sources: dict[str, str] | None) -> str:
    """JSON, or with ``sources`` one ``key = value  (source)`` line per leaf."""
    if sources is None:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
    lines = []
    for path, value in leaves(data):
        key = dotted(path)
        shown = orjson.dumps(value).decode()
        lines.append(f"{key} = {shown}  ({sources.get(key, 'default')})")
    return "\n".join(lines) + "\n"


def show_config(
    files: list[str],
    overrides: Mapping[str, Any],
    config: Config,
    strategy: Any | None,
    with_sources: bool,
    environ: Mapping[str, str] | None = None,
) -> str:
    data, filled = effective(config, strategy)
    if not with_sources:
        return render(data, None)
    sources = value_sources(files, os.environ if environ is None else environ, overrides)
    return render(data, {**sources, **filled})
