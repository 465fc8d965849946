"""One exception tree for candlecast, grouped by the reaction each error calls for.

::

    CandlecastError
    ├── ConfigError               refuse to start; print one line naming the key
    ├── StrategyError             skip this pair this cycle (or refuse to load the file)
    ├── ExchangeError
    │   ├── TemporaryExchangeError   retry with backoff
    │   ├── ExchangeAuthenticationError  refuse to start (live) / stop trading
    │   └── InvalidOrderError        give up on this order
    ├── MessagingError
    │   ├── ProtocolViolation        drop the message / close with a code
    │   ├── ProducerUnavailable      reconnect after sleep_time
    │   │   └── TokenRefused         reconnect, but say the token is wrong
    │   ├── InvalidProducerURL       stop that producer's task only
    │   └── BusUnavailable           NATS unreachable: retry with backoff, say so once
    │       └── BusAuthRefused       NATS refused our credentials (never shown)
    └── PortInUseError            refuse to start (exit 2)

Third-party errors (ccxt, websockets, uvicorn) are mapped to these in one adapter
per boundary; code above the boundaries only catches these.
"""

from __future__ import annotations


class CandlecastError(Exception):
    """Base of every error candlecast raises on purpose."""


class ConfigError(CandlecastError):
    """The configuration is invalid; the bot must not start.

    ``problems`` holds one line per problem, each naming the key path.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class StrategyError(CandlecastError):
    """A strategy could not be loaded or failed while analyzing a pair."""


class ExchangeError(CandlecastError):
    """The exchange refused or failed a request."""


class TemporaryExchangeError(ExchangeError):
    """A transient exchange failure (network, rate limit); retry with backoff."""


class ExchangeAuthenticationError(ExchangeError):
    """The exchange refused the API key, secret or password."""


class InvalidOrderError(ExchangeError):
    """An order that cannot be placed as asked (amount, price, pair)."""


class MessagingError(CandlecastError):
    """Base for message websocket errors."""


class ProtocolViolation(MessagingError):
    """A peer sent something the protocol does not allow."""


class ProducerUnavailable(MessagingError):
    """A producer cannot be reached or dropped the connection."""


class TokenRefused(ProducerUnavailable):
    """The producer refused our ws_token (HTTP 403 during the handshake)."""


class InvalidProducerURL(MessagingError):
    """The producer's host/port cannot form a valid URL."""


class BusUnavailable(MessagingError):
    """The NATS servers of a ``message_bus`` cannot be reached, or JetStream failed."""


class BusAuthRefused(BusUnavailable):
    """NATS refused the token, credentials or nkey (the message never shows them)."""


class PortInUseError(CandlecastError):
    """The API server's listen address is already taken."""
