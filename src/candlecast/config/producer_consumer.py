"""The producer/consumer sections: ``api_server`` and ``external_message_consumer``.

Both are judged as freqtrade 2026.9 judges them (its JSON schema plus its consumer checks):
the same keys are required, the same types and ranges accepted, the same defaults filled
in. Where candlecast deliberately differs (empty secrets, a host that is not a host, ...)
``docs/compat.md`` says so and why.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from candlecast.config import checks
from candlecast.config.checks import kind
from candlecast.config.message_bus import MessageBusConfig
from candlecast.util.net import is_valid_host

MIB = 1024 * 1024
MIN_JWT_SECRET_LENGTH = 32

Bool = Annotated[bool, BeforeValidator(checks.boolean)]
Str = Annotated[str, BeforeValidator(checks.string)]
Seconds = Annotated[int, BeforeValidator(checks.integer(0))]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


def _listen_port(value: Any) -> Any:
    # freqtrade: 1024-65535. candlecast adds 0 = any free port (tests, several local bots).
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or 0 < value < 1024
        or not (0 <= value <= 65535)
    ):
        raise ValueError(
            "expected an integer from 1024 to 65535 (or 0 for any free port), "
            f"got {checks.shown(value)}"
        )
    return value


def _ws_tokens(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    elif not isinstance(value, list):
        raise ValueError(f"expected a string or a list of strings, got {kind(value)}")
    for i, token in enumerate(value):
        if not isinstance(token, str):
            raise ValueError(f"expected a string or a list of strings, item [{i}] is {kind(token)}")
        if not token.strip():
            raise ValueError(
                "expected non-empty tokens, got an empty one; candlecast refuses empty secrets"
            )
    return value


def _jwt_secret(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {kind(value)}")
    if len(value) < MIN_JWT_SECRET_LENGTH:
        raise ValueError(
            f"expected a random secret of at least {MIN_JWT_SECRET_LENGTH} characters, "
            f"got {len(value)} characters"
        )
    return value


#: ws_token values from examples and docs: warned about on a public listener
SAMPLE_TOKENS = frozenset(
    {"secret", "sercet_Ws_t0ken", "secret_ws_token", "changeme", "token", "password"}
)


class ApiServerConfig(_Section):
    """The REST API and the message websocket (what makes a bot a producer).

    When the section is given, ``enabled``, ``listen_ip_address``, ``listen_port``,
    ``username`` and ``password`` are required, as in freqtrade.
    """

    enabled: Bool
    listen_ip_address: Str
    listen_port: Annotated[int, BeforeValidator(_listen_port)]
    username: Str
    password: Str
    ws_token: Annotated[list[str], BeforeValidator(_ws_tokens)] = Field(default_factory=list)
    # Empty = a random key per run (freqtrade fills in a fixed, publicly known key).
    jwt_secret_key: Annotated[str, BeforeValidator(_jwt_secret)] = ""
    CORS_origins: Annotated[list[str], BeforeValidator(checks.string_list)] = Field(
        default_factory=list
    )
    verbosity: Literal["error", "info"] = "error"
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # Slow-consumer policy (see docs/producer-consumer.md): a subscriber whose outbox
    # holds more than this many bytes, or whose oldest queued message waited longer
    # than ws_send_timeout seconds, is disconnected with close code 1013.
    ws_max_queue_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    ws_max_queue_messages: int = Field(default=10_000, ge=10)
    ws_send_timeout: float = Field(default=10.0, gt=0)

    def exposure_warnings(self) -> list[str]:
        """A non-loopback listener with a weak ws_token, or without TLS."""
        warnings: list[str] = []
        if self.listen_ip_address in ("127.0.0.1", "localhost", "::1"):
            return warnings
        weak = [t for t in self.ws_token if len(t) < 16 or t in SAMPLE_TOKENS]
        if weak:
            warnings.append(
                f"api_server listens on {self.listen_ip_address} with a short or sample ws_token: "
                "anyone who guesses it can read your signals; use 32 random characters"
            )
        if not self.ssl_certfile:
            warnings.append(
                f"api_server listens on {self.listen_ip_address} without TLS: tokens travel in clear; "
                "use ssl_certfile/ssl_keyfile or a reverse proxy"
            )
        return warnings

    @classmethod
    def absent(cls) -> ApiServerConfig:
        """The section when the config has none: disabled."""
        return cls.model_construct(
            enabled=False, listen_ip_address="127.0.0.1", listen_port=8080, username="", password=""
        )

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiServerConfig:
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile must be given together")
        return self


def _host(value: Any) -> Any:
    checks.string(value)
    host = value.strip()
    if not is_valid_host(host):
        raise ValueError(
            f"expected a hostname or IP address (no scheme, port or path), got {checks.shown(value)}"
        )
    return host


class ProducerConfig(_Section):
    """One producer a consumer follows."""

    name: Str
    host: Annotated[str, BeforeValidator(_host)]
    port: Annotated[int, BeforeValidator(checks.integer(0, 65535))] = 8080
    ws_token: Annotated[str, BeforeValidator(checks.secret_string)]
    secure: Bool = False
    # wss only: a CA bundle to verify the producer's certificate with (default: system CAs).
    ca_file: str | None = None
    # follow the producer through NATS JetStream instead (see BusProducerConfig)
    bus: MessageBusConfig | None = None
    # candlecast: no new trades on a pair whose data from this producer is older than this
    # many candles (0 = off; see docs/producer-consumer.md, "Staleness guard").
    max_age_candles: Annotated[int, BeforeValidator(checks.integer(0, 100_000))] = 0
    # candlecast: warn when our candles and this producer's differ by more than this ratio
    # on a common date (0 = off; see docs/producer-consumer.md, "Market guard").
    market_tolerance: float = Field(default=0.01, ge=0, lt=1)

    @classmethod
    def _object(cls, value: Any) -> Any:
        if not isinstance(value, dict | ProducerConfig):
            raise ValueError(
                f"expected an object {{name, host, port, ws_token}}, got {kind(value)}"
            )
        return value


class BusProducerConfig(ProducerConfig):
    """A producer followed through NATS JetStream: ``{name, bus: {url, subject_prefix, ...}}``
    instead of host/port/ws_token (docs/scale-out.md)."""

    host: str = ""
    ws_token: str = ""
    bus: MessageBusConfig


def _producer_kind(value: Any) -> str:
    # the tags start with "union[" so error paths read producers[0].host, not ...ws.host
    if isinstance(value, BusProducerConfig) or (isinstance(value, dict) and "bus" in value):
        return "union[bus]"
    return "union[ws]"


AnyProducer = Annotated[
    Annotated[ProducerConfig, Tag("union[ws]")] | Annotated[BusProducerConfig, Tag("union[bus]")],
    Discriminator(_producer_kind),
]


def _producer_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError(
            f"expected a list of producers [{{name, host, port, ws_token}}, ...], got {kind(value)}"
        )
    return [ProducerConfig._object(item) for item in value]


class ExternalMessageConsumerConfig(_Section):
    """Follow producers (what makes a bot a consumer).

    Validated even when disabled, as freqtrade does: ``producers`` is required.
    """

    enabled: Bool = False
    producers: Annotated[list[AnyProducer], BeforeValidator(_producer_list)]
    wait_timeout: Seconds = 30
    ping_timeout: Seconds = 10
    sleep_time: Seconds = 10
    remove_entry_exit_signals: Bool = False
    message_size_limit: Annotated[int, BeforeValidator(checks.integer(1, 20, " (MiB)"))] = 8
    initial_candle_limit: Annotated[int, BeforeValidator(checks.integer(0, 1500))] = 1500
    # candlecast extensions (negotiated; freqtrade producers are unaffected)
    binary: Bool = True
    analyze_on_update: Bool = True
    # Offer permessage-deflate. Off by default: it costs CPU and latency on both sides
    # and binary frames barely compress; turn it on for JSON over a slow link.
    compression: Bool = False

    @classmethod
    def absent(cls) -> ExternalMessageConsumerConfig:
        """The section when the config has none: disabled, no producers."""
        return cls.model_construct(enabled=False, producers=[])

    @property
    def message_size_limit_bytes(self) -> int:
        """The largest message accepted, in bytes (``message_size_limit`` is in MiB)."""
        return self.message_size_limit * MIB

    @field_validator("producers")
    @classmethod
    def _producers(cls, value: list[ProducerConfig], info: ValidationInfo) -> list[ProducerConfig]:
        if info.data.get("enabled") is True:
            if not value:
                raise ValueError("expected at least one producer when enabled")
            names = [p.name for p in value]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(
                    "expected unique names, "
                    + ", ".join(f'"{n}"' for n in dupes)
                    + " used more than once"
                )
        return value
