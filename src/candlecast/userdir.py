"""``candlecast create-userdir`` and ``candlecast new-config``: a first bot in two commands.

``create-userdir`` makes ``user_data/`` with the sample strategies; ``new-config`` writes a
commented config for a producer, a consumer following a producer, or a standalone bot.
Producer and consumer configs written here share the simulated market (same ``sim_seed``
and ``sim_volatility``), so a consumer's own candles are the producer's candles.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from candlecast.exceptions import ConfigError

USERDIR_SUBDIRS = ("strategies", "data", "logs")
SAMPLE_STRATEGIES = ("SampleStrategy", "ProducerStrategy", "ConsumerStrategy")
# the quick start's market: the demo's, so trades come within a minute on 1 s candles
SIM_SEED = 42
SIM_VOLATILITY = 10
QUICK_PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT")
DEFAULT_PRODUCER_PORT = 8080
DEFAULT_CONSUMER_PORT = 8081


def create_userdir(directory: Path, force: bool = False) -> list[Path]:
    """Create ``directory`` with its sub-directories and the sample strategies.

    Existing strategy files are kept unless ``force``. Returns the files written.
    """
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} exists and is not a directory")
    for sub in USERDIR_SUBDIRS:
        (directory / sub).mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    source = resources.files("candlecast").joinpath("templates/strategies")
    for name in SAMPLE_STRATEGIES:
        target = directory / "strategies" / f"{name}.py"
        if target.exists() and not force:
            continue
        with resources.as_file(source.joinpath(f"{name}.py")) as path:
            shutil.copyfile(path, target)
        written.append(target)
    return written


@dataclass(frozen=True)
class ProducerAddress:
    host: str
    port: int
    secure: bool


def parse_producer_url(url: str) -> ProducerAddress:
    """``ws://host:port``, ``wss://host``, ``http://host:port`` or ``host:port``.

    Raises:
        ConfigError: not a producer address.
    """
    text = url.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss", "http", "https"):
        raise ConfigError(f"--consumer: expected ws://HOST:PORT or wss://HOST:PORT, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"--consumer: the port of {url!r} is not a number from 0 to 65535"
        ) from None
    if not parts.hostname:
        raise ConfigError(f"--consumer: expected ws://HOST:PORT, no host in {url!r}")
    secure = scheme in ("wss", "https")
    return ProducerAddress(
        parts.hostname, port or (443 if secure else DEFAULT_PRODUCER_PORT), secure
    )


def token_from_config(path: Path) -> str:
    """The first ``api_server.ws_token`` of a producer's config file."""
    from candlecast.config.loader import parse_config_text

    try:
        raw = parse_config_text(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ConfigError(f"--token-from: cannot read {path}: {exc.strerror}") from None
    token = (raw.get("api_server") or {}).get("ws_token")
    if isinstance(token, list):
        token = token[0] if token else None
    if not isinstance(token, str) or not token:
        raise ConfigError(f"--token-from: {path} has no api_server.ws_token")
    return token


def _pairs_json() -> str:
    return ", ".join(f'"{p}"' for p in QUICK_PAIRS)


def _market(timeframe: str) -> str:
    return f"""    "timeframe": "{timeframe}",
    // quick exits for 1-second candles (they override the strategy's values)
    "minimal_roi": {{"0": 0.003}},
    "stoploss": -0.005,
    "internals": {{"process_throttle_secs": 1}},
    // The embedded simulated market. A consumer must see the same market as its
    // producer: keep sim_seed and sim_volatility equal on both (the consumer warns
    // when its candles differ from the producer's).
    "exchange": {{
        "name": "simulated",
        "sim_seed": {SIM_SEED},
        "sim_volatility": {SIM_VOLATILITY},
        "pair_whitelist": [{_pairs_json()}],
    }},"""


def producer_config_text(name: str, port: int, timeframe: str, userdir: str) -> str:
    token = secrets.token_urlsafe(32)
    password = secrets.token_urlsafe(16)
    return f"""{{
    // A producer: analyzes candles once and serves them to consumers on its message
    // websocket. Every key is documented in docs/configuration.md.
    "bot_name": "{name}",
    "dry_run": true,
    "dry_run_wallet": 1000,
    "stake_currency": "USDT",
    "stake_amount": 100,
    "max_open_trades": 3,
{_market(timeframe)}
    "pairlists": [{{"method": "StaticPairList"}}],
    "strategy": "ProducerStrategy",
    "strategy_path": "{userdir}/strategies",
    "db_url": "sqlite:///{userdir}/{name}.sqlite",
    "api_server": {{
        "enabled": true,
        "listen_ip_address": "127.0.0.1",   // 0.0.0.0 to serve other machines
        "listen_port": {port},
        // consumers present this token; generated for this file, keep it secret
        "ws_token": "{token}",
        "username": "admin",
        "password": "{password}",
    }},
}}
"""


def consumer_config_text(
    name: str, port: int, timeframe: str, userdir: str, producer: ProducerAddress, token: str
) -> str:
    password = secrets.token_urlsafe(16)
    secure = "true" if producer.secure else "false"
    return f"""{{
    // A consumer: follows a producer and trades on its analyzed candles, computing no
    // indicators. Every key is documented in docs/configuration.md.
    "bot_name": "{name}",
    "dry_run": true,
    "dry_run_wallet": 1000,
    "stake_currency": "USDT",
    "stake_amount": 100,
    "max_open_trades": 3,
{_market(timeframe)}
    // trade the pairs the producer announces
    "pairlists": [{{"method": "ProducerPairList", "producer_name": "default"}}],
    "strategy": "ConsumerStrategy",
    "strategy_path": "{userdir}/strategies",
    "db_url": "sqlite:///{userdir}/{name}.sqlite",
    // this bot's own REST API (GET /api/v1/producers shows the connection)
    "api_server": {{
        "enabled": true,
        "listen_ip_address": "127.0.0.1",
        "listen_port": {port},
        "username": "admin",
        "password": "{password}",
    }},
    "external_message_consumer": {{
        "enabled": true,
        "producers": [
            {{
                "name": "default",
                "host": "{producer.host}",
                "port": {producer.port},
                "secure": {secure},
                "ws_token": "{token}",
                // no new trades on a pair whose data from this producer is older than
                // this many candles (0 = off)
                "max_age_candles": 0,
                // warn when our candles and the producer's differ by more than 1 %
                "market_tolerance": 0.01,
            }},
        ],
        "sleep_time": 2,
    }},
}}
"""


def standalone_config_text() -> str:
    return (
        resources.files("candlecast").joinpath("templates/config.json").read_text(encoding="utf-8")
    )
