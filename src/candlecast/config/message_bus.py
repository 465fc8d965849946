"""The ``message_bus`` section: where a producer publishes through NATS JetStream, and
where a consumer (``producers[].bus``) or a relay follows it.

Only the connection and the names live here; what is published where is in
:mod:`candlecast.bus.plan`. Every check fails with one line naming what is wrong and what
was expected; secret values (the token) are never shown.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from candlecast.config import checks
from candlecast.config.checks import kind

URL_SCHEMES = ("nats", "tls")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")
_STREAM = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


def _urls(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"expected a NATS URL or a non-empty list of them (nats://host:4222), got {kind(value)}"
        )
    for i, url in enumerate(value):
        if not isinstance(url, str):
            raise ValueError(f"expected a list of NATS URLs, item [{i}] is {kind(url)}")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if (
            parts is None
            or parts.scheme not in URL_SCHEMES
            or not parts.hostname
            or port is None
            or parts.path not in ("", "/")
        ):
            shown = checks.shown(url.split("@")[-1])  # never echo user:password@
            raise ValueError(
                f"expected URLs like nats://host:4222 or tls://host:4222 (scheme, host and "
                f"port; credentials go in token, credentials_file or nkey_file), got {shown}"
            )
        if parts.username or parts.password:
            raise ValueError(
                "expected no user or password inside the URL; use token, credentials_file "
                "or nkey_file"
            )
    return value


def _prefix(value: Any) -> Any:
    checks.string(value)
    tokens = value.split(".")
    if not value or not all(_TOKEN.match(t) for t in tokens):
        raise ValueError(
            "expected dot-separated words of letters, digits, '_' or '-' "
            f"(e.g. candlecast.eu1), got {checks.shown(value)}"
        )
    return value


def _stream(value: Any) -> Any:
    checks.string(value)
    if not _STREAM.match(value):
        raise ValueError(
            f"expected 1 to 32 letters, digits, '_' or '-' (e.g. CANDLECAST), got {checks.shown(value)}"
        )
    return value


def _optional_path(value: Any) -> Any:
    if value is None:
        return value
    checks.string(value)
    if not value.strip():
        raise ValueError("expected a file path, got an empty string")
    return value


def _optional_secret(value: Any) -> Any:
    return None if value is None else checks.secret_string(value)


Path = Annotated[str | None, BeforeValidator(_optional_path)]


class MessageBusConfig(BaseModel):
    """A NATS JetStream bus: servers, credentials and the names a producer publishes under."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    url: Annotated[list[str], BeforeValidator(_urls)]
    # at most one of these three (none: the server allows anonymous clients)
    token: Annotated[str | None, BeforeValidator(_optional_secret)] = None
    credentials_file: Path = None
    nkey_file: Path = None
    # verify the servers' TLS certificates with this CA bundle (default: system CAs)
    tls_ca_file: Path = None
    subject_prefix: Annotated[str, BeforeValidator(_prefix)] = "candlecast"
    stream: Annotated[str, BeforeValidator(_stream)] = "CANDLECAST"
    # producer side: how the streams are created (a cluster: replicas 3)
    replicas: Annotated[int, BeforeValidator(checks.integer(1, 5))] = 1
    # how long updates stay in the stream (seconds): a consumer that was away longer
    # reads the snapshot of each pair again instead of replaying
    update_max_age: Annotated[int, BeforeValidator(checks.integer(60))] = 86400
    # hot standby: > 0 = publish only while holding a lease of this many seconds in the
    # KV bucket <stream>_LEASE; producers sharing the bus take over within it
    lease_ttl: Annotated[int, BeforeValidator(checks.integer(0, 3600))] = 0
    connect_timeout: float = Field(default=5.0, gt=0, le=120)

    @model_validator(mode="after")
    def _one_credential(self) -> MessageBusConfig:
        given = [
            k for k in ("token", "credentials_file", "nkey_file") if getattr(self, k) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"expected at most one of token, credentials_file, nkey_file, got {' and '.join(given)}"
            )
        return self

    @property
    def last_stream(self) -> str:
        """The stream holding the last snapshot per pair and the whitelist."""
        return f"{self.stream}_LAST"

    def redacted_urls(self) -> str:
        return ", ".join(self.url)


__all__ = ["MessageBusConfig"]
