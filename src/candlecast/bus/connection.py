"""Open a NATS connection for a ``message_bus`` section; map nats-py's errors to ours.

The connection does not reconnect by itself: the publisher's and the follower's loops
reconnect (to any listed server) and resume where they were, so there is one place that
decides what happens after a loss. Errors become one line (:class:`BusUnavailable`,
:class:`BusAuthRefused`); credentials never appear in them.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from candlecast.config.message_bus import MessageBusConfig
from candlecast.exceptions import BusAuthRefused, BusUnavailable

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

logger = logging.getLogger(__name__)

RETRY_MIN = 0.5
RETRY_MAX = 5.0


def _nats() -> Any:
    try:
        import nats
        import nats.aio.client
    except ImportError:
        raise BusUnavailable(
            "message_bus needs the NATS client: pip install 'candlecast[nats]'"
        ) from None
    return nats


def describe(exc: BaseException) -> str:
    """One line for a nats-py error (no traceback, no credentials)."""
    text = str(exc).strip().removeprefix("nats: ")
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def is_auth_error(exc: BaseException) -> bool:
    from nats.errors import AuthorizationError

    text = str(exc).lower()
    return isinstance(exc, AuthorizationError) or "authorization" in text


def connect_options(bus: MessageBusConfig) -> dict[str, Any]:
    """Keyword arguments of ``nats.connect`` (servers, credentials, TLS)."""
    options: dict[str, Any] = {
        "servers": list(bus.url),
        "allow_reconnect": False,
        "connect_timeout": bus.connect_timeout,
        # with 0 nats-py would try the same servers forever inside connect()
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.2,
        "ping_interval": 5,
        "max_outstanding_pings": 2,
    }
    if bus.token is not None:
        options["token"] = bus.token
    if bus.credentials_file is not None:
        options["user_credentials"] = bus.credentials_file
    if bus.nkey_file is not None:
        options["nkeys_seed"] = bus.nkey_file
    if bus.tls_ca_file is not None or any(u.startswith("tls://") for u in bus.url):
        options["tls"] = ssl.create_default_context(cafile=bus.tls_ca_file)
    return options


async def open_connection(
    bus: MessageBusConfig, name: str, on_lost: Callable[[], Awaitable[None]] | None = None
) -> NATS:
    """Connect to the first listed server that answers.

    Raises:
        BusAuthRefused: a server refused the credentials.
        BusUnavailable: no server could be reached (or the client is not installed).
    """
    nats = _nats()
    errors: list[BaseException] = []

    async def error_cb(exc: Exception) -> None:
        errors.append(exc)  # kept for the one-line error; nats-py would log a traceback

    async def closed_cb() -> None:
        if on_lost is not None:
            await on_lost()

    where = ", ".join(bus.url)
    client = nats.aio.client.Client()
    try:
        await client.connect(
            name=name, error_cb=error_cb, closed_cb=closed_cb, **connect_options(bus)
        )
        raise_if_cancelled()
        return client
    except BaseException as exc:
        await _discard(client)
        if not isinstance(exc, Exception):
            raise
        raise_if_cancelled()
        causes = [*errors, exc]
        if any(is_auth_error(e) for e in causes):
            raise BusAuthRefused(
                f"NATS at {where} refused our credentials (check message_bus token, "
                "credentials_file or nkey_file)"
            ) from None
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise BusUnavailable(f"cannot read a message_bus credentials file: {exc}") from None
        shown = next((describe(e) for e in errors if not isinstance(e, type(exc))), describe(exc))
        raise BusUnavailable(f"cannot reach NATS at {where}: {shown}") from None


async def close_quietly(client: Any, timeout: float = 2.0) -> None:
    """Close a connection, dead or alive, without raising and without hanging."""
    try:
        async with asyncio.timeout(timeout):
            await client.close()
    except Exception:  # closing a dead connection may fail; nothing to do about it
        pass


async def _discard(client: Any) -> None:
    """Release a client whose connect() failed (nats-py leaves its socket open)."""
    await close_quietly(client)
    writer = getattr(client, "_transport", None)
    if writer is not None:
        try:
            writer.close()
        except Exception:
            pass


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that a library swallowed (Python 3.11's ``wait_for`` can,
    inside nats-py's connect); without this a reconnect loop would never stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (1, 2, ...)."""
    return min(RETRY_MIN * 2 ** max(attempt - 1, 0), RETRY_MAX)


__all__ = [
    "backoff",
    "close_quietly",
    "connect_options",
    "describe",
    "is_auth_error",
    "open_connection",
    "raise_if_cancelled",
]
