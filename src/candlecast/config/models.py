"""Typed configuration: one frozen model per section, defaults in one place.

Keys follow freqtrade's names wherever the two overlap, so a freqtrade config works
as a starting point. Defaults that depart from freqtrade's documentation are
explained in ``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from candlecast.domain.timeframes import validate_timeframe

SECRET_KEYS = frozenset(
    {"ws_token", "password", "jwt_secret_key", "key", "secret", "apiKey", "privateKey", "uid"}
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


PositiveFloat = Annotated[float, Field(gt=0)]


class ExchangeConfig(_Section):
    name: str = "simulated"
    pair_whitelist: list[str] = Field(default_factory=list)
    pair_blacklist: list[str] = Field(default_factory=list)
    key: str = ""
    secret: str = ""
    password: str = ""
    ccxt_config: dict[str, Any] = Field(default_factory=dict)
    ccxt_async_config: dict[str, Any] = Field(default_factory=dict)
    # ccxt exchanges: reload the markets (new listings, delistings) every N minutes.
    markets_refresh_interval: int = Field(default=60, ge=1)
    # Simulated exchange only: the seed of the market. Bots with the same seed see
    # the same candles for the same pair and time.
    sim_seed: int = 42
    sim_fee: float = Field(default=0.001, ge=0, lt=0.1)
    sim_volatility: float = Field(default=1.0, gt=0, le=100)

    @field_validator("pair_whitelist", "pair_blacklist")
    @classmethod
    def _pairs_look_like_pairs(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            if "/" not in pair or pair.startswith("/") or pair.endswith("/"):
                raise ValueError(f"expected pairs like 'BTC/USDT', got {pair!r}")
        return pairs


class PairlistConfig(_Section):
    method: Literal["StaticPairList", "ProducerPairList"]
    number_assets: int = Field(default=0, ge=0)
    producer_name: str = "default"


class UnfilledTimeoutConfig(_Section):
    """Cancel an order still open after this long (dry-run orders too)."""

    entry: float = Field(default=10, gt=0)
    exit: float = Field(default=10, gt=0)
    unit: Literal["seconds", "minutes"] = "minutes"
    exit_timeout_count: int = Field(default=0, ge=0)

    @field_validator("exit_timeout_count")
    @classmethod
    def _no_emergency_exits(cls, value: int) -> int:
        if value:
            raise ValueError(
                "expected 0: candlecast does not turn repeated exit timeouts into an "
                f"emergency exit, got {value}"
            )
        return value

    def seconds(self, side: str) -> float:
        value = self.entry if side == "entry" else self.exit
        return value * (60 if self.unit == "minutes" else 1)


class InternalsConfig(_Section):
    process_throttle_secs: PositiveFloat = 5.0
    heartbeat_interval: float = Field(default=60.0, ge=0)


class ApiServerConfig(_Section):
    enabled: bool = False
    listen_ip_address: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)
    ws_token: list[str] = Field(default_factory=list)
    username: str = ""
    password: str = ""
    jwt_secret_key: str = ""
    CORS_origins: list[str] = Field(default_factory=list)
    verbosity: Literal["error", "info"] = "error"
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # Slow-consumer policy (see docs/producer-consumer.md): a subscriber whose outbox
    # holds more than this many bytes, or whose oldest queued message waited longer
    # than ws_send_timeout seconds, is disconnected with close code 1013.
    ws_max_queue_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    ws_max_queue_messages: int = Field(default=10_000, ge=10)
    ws_send_timeout: PositiveFloat = 10.0

    @field_validator("ws_token", mode="before")
    @classmethod
    def _token_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("ws_token")
    @classmethod
    def _tokens_non_empty(cls, value: list[str]) -> list[str]:
        for token in value:
            if not token.strip():
                raise ValueError("expected non-empty token strings, got an empty token")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiServerConfig:
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile must be given together")
        return self


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$"
)


def is_valid_host(host: str) -> bool:
    """True for a hostname or an IPv4/IPv6 address (optionally in brackets)."""
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host))


class ProducerConfig(_Section):
    name: str = "default"
    host: str
    port: int = Field(ge=1, le=65535)
    ws_token: str
    secure: bool = False
    # wss only: a CA bundle to verify the producer's certificate with (default: system CAs).
    ca_file: str | None = None

    @field_validator("name", "host", "ws_token")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a non-empty string")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value.strip() and not is_valid_host(value.strip()):
            raise ValueError(f"expected a hostname or IP address, got {value!r}")
        return value.strip()

    @field_validator("port", mode="before")
    @classmethod
    def _numeric_string_port(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip().isdigit():
                raise ValueError(f"expected an integer 1-65535, got {value!r}")
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer 1-65535, got {value!r}")
        return value


class ExternalMessageConsumerConfig(_Section):
    enabled: bool = False
    producers: list[ProducerConfig] = Field(default_factory=list)
    wait_timeout: PositiveFloat = 30.0
    ping_timeout: PositiveFloat = 10.0
    sleep_time: PositiveFloat = 10.0
    remove_entry_exit_signals: bool = False
    message_size_limit: int = Field(default=8, ge=1)
    initial_candle_limit: int = Field(default=1500, ge=1, le=1500)
    # candlecast extensions (negotiated; freqtrade producers are unaffected)
    binary: bool = True
    analyze_on_update: bool = True
    # Offer permessage-deflate. Off by default: it costs CPU and latency on both sides
    # and binary frames barely compress; turn it on for JSON over a slow link.
    compression: bool = False

    @model_validator(mode="before")
    @classmethod
    def _ignore_when_disabled(cls, data: Any) -> Any:
        # As freqtrade documents: when disabled, every other setting is ignored.
        if isinstance(data, dict) and not data.get("enabled", False):
            return {"enabled": False}
        return data

    @model_validator(mode="after")
    def _producers_valid(self) -> ExternalMessageConsumerConfig:
        if self.enabled:
            if not self.producers:
                raise ValueError("producers: expected at least one producer when enabled")
            names = [p.name for p in self.producers]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"producers: names must be unique, {dupes} used twice")
        return self


class Config(_Section):
    bot_name: str = "candlecast"
    dry_run: bool = True
    dry_run_wallet: float = Field(default=1000.0, gt=0)
    stake_currency: str = "USDT"
    stake_amount: float | Literal["unlimited"] = "unlimited"
    max_open_trades: int = Field(default=3, ge=-1)
    timeframe: str | None = None
    minimal_roi: dict[str, float] | None = None
    stoploss: float | None = Field(default=None, lt=0, ge=-1)
    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    pairlists: list[PairlistConfig] = Field(
        default_factory=lambda: [PairlistConfig(method="StaticPairList")]
    )
    internals: InternalsConfig = Field(default_factory=InternalsConfig)
    unfilledtimeout: UnfilledTimeoutConfig = Field(default_factory=UnfilledTimeoutConfig)
    db_url: str | None = None
    strategy: str | None = None
    strategy_path: str | None = None
    user_data_dir: str = "user_data"
    api_server: ApiServerConfig = Field(default_factory=ApiServerConfig)
    external_message_consumer: ExternalMessageConsumerConfig = Field(
        default_factory=ExternalMessageConsumerConfig
    )
    # Exit and risk settings: when given, they override the strategy's (as in freqtrade).
    trailing_stop: bool | None = None
    trailing_stop_positive: float | None = Field(default=None, gt=0, lt=1)
    trailing_stop_positive_offset: float | None = Field(default=None, ge=0, lt=1)
    trailing_only_offset_is_reached: bool | None = None
    use_exit_signal: bool | None = None
    exit_profit_only: bool | None = None
    exit_profit_offset: float | None = None
    ignore_roi_if_entry_signal: bool | None = None
    ignore_buying_expired_candle_after: int | None = Field(default=None, ge=0)
    position_adjustment_enable: bool | None = None
    max_entry_position_adjustment: int | None = Field(default=None, ge=-1)
    # the strategy's order_types / order_time_in_force, replaced whole when given
    order_types: dict[str, Any] | None = None
    order_time_in_force: dict[str, Any] | None = None
    # the strategy's protections, replaced by this list when given (freqtrade's deprecated
    # config route); each entry is checked when the bot starts
    protections: list[dict[str, Any]] | None = None
    # custom_entry_price / custom_exit_price may move the price at most this far
    custom_price_max_distance_ratio: float = Field(default=0.02, gt=0)

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str | None) -> str | None:
        return None if value is None else validate_timeframe(value)

    @field_validator("stake_amount", mode="before")
    @classmethod
    def _stake(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            raise ValueError(f'expected a positive number or "unlimited", got {value!r}')
        return value

    @field_validator("minimal_roi")
    @classmethod
    def _roi_keys(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            for key in value:
                try:
                    if float(key) < 0:
                        raise ValueError
                except ValueError:
                    raise ValueError(
                        f'expected minutes (e.g. "0", "30") as keys, got {key!r}'
                    ) from None
        return value

    @field_validator("pairlists")
    @classmethod
    def _pairlists(cls, value: list[PairlistConfig]) -> list[PairlistConfig]:
        if not value:
            raise ValueError("expected at least one pairlist")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        uses_producer = any(p.method == "ProducerPairList" for p in self.pairlists)
        if uses_producer and not self.external_message_consumer.enabled:
            raise ValueError(
                "pairlists: ProducerPairList requires external_message_consumer.enabled = true"
            )
        if uses_producer:
            names = {p.name for p in self.external_message_consumer.producers}
            for plist in self.pairlists:
                if plist.method == "ProducerPairList" and plist.producer_name not in names:
                    raise ValueError(
                        f"pairlists: ProducerPairList.producer_name {plist.producer_name!r} "
                        f"is not one of the producers {sorted(names)}"
                    )
        return self

    @model_validator(mode="after")
    def _live_trading(self) -> Config:
        if not self.dry_run:
            if self.exchange.name == "simulated":
                raise ValueError(
                    "dry_run: false needs a real exchange; the simulated exchange only "
                    "trades dry-run (set exchange.name to a ccxt exchange id)"
                )
            missing = [k for k in ("key", "secret") if not getattr(self.exchange, k)]
            if missing:
                raise ValueError(
                    f"exchange.{missing[0]}: live trading (dry_run: false) needs "
                    "exchange.key and exchange.secret; none may be empty"
                )
        return self

    @property
    def is_producer(self) -> bool:
        return self.api_server.enabled

    @property
    def is_consumer(self) -> bool:
        return self.external_message_consumer.enabled
