"""The consumer side: one task per producer, reconnecting forever.

The task connects and drives a :class:`~candlecast.messaging.session.ConsumerSession`
(the rules, without I/O): it hands the session every frame and the passing time, and
carries out the actions it answers with (store a frame in the ``ProducerStore``, send
a request, ping, close). It never raises out of ``run()`` except on cancellation or
an invalid URL.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from candlecast.clock import Clock, LiveClock
from candlecast.config.models import ExternalMessageConsumerConfig, ProducerConfig
from candlecast.data.producer_store import ProducerStore
from candlecast.exceptions import (
    InvalidProducerURL,
    ProducerUnavailable,
    ProtocolViolation,
    TokenRefused,
)
from candlecast.messaging import protocol as proto
from candlecast.messaging.protocol import Encoding
from candlecast.messaging.session import (
    Action,
    Close,
    ConsumerSession,
    SendPing,
    SendRequest,
    SessionSettings,
    SetPairs,
    StoreFrame,
)
from candlecast.util.net import is_valid_host

logger = logging.getLogger(__name__)


def producer_url(producer: ProducerConfig, token: bool = True) -> str:
    """The websocket URL of ``producer``: an IPv6 host in brackets, the token escaped."""
    scheme = "wss" if producer.secure else "ws"
    host = (
        f"[{producer.host}]"
        if ":" in producer.host and not producer.host.startswith("[")
        else producer.host
    )
    url = f"{scheme}://{host}:{producer.port}{proto.WS_PATH}"
    return f"{url}?token={quote(producer.ws_token, safe='')}" if token else url


def offered_encodings(settings: ExternalMessageConsumerConfig) -> frozenset[Encoding]:
    """The encodings a consumer offers: every one candlecast has with ``binary`` on (the
    config key; freqtrade's configs never set it), freqtrade's JSON only with it off."""
    return frozenset(Encoding) if settings.binary else frozenset({Encoding.JSON})


def connect_options(settings: ExternalMessageConsumerConfig) -> dict[str, Any]:
    """Keyword arguments of ``websockets.connect`` for every producer (TLS aside)."""
    return {
        "subprotocols": proto.offer_subprotocols(offered_encodings(settings)),
        "max_size": settings.message_size_limit_bytes,
        # keepalive is ours: ping after wait_timeout without a message (as freqtrade)
        "ping_interval": None,
        "compression": "deflate" if settings.compression else None,
        "open_timeout": max(settings.ping_timeout, 5.0),
        "close_timeout": 2,
        "max_queue": 64,
    }


@dataclass
class ConnectionStatus:
    name: str
    url: str
    state: str = "starting"
    encoding: Encoding | None = None
    connected_since: float | None = None
    last_message_at: float | None = None
    messages_received: int = 0
    bytes_received: int = 0
    reconnects: int = 0
    last_error: str | None = None
    invalid_messages: int = 0
    requests_sent: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    def as_dict(self, pairs: list[str]) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "name": self.name,
            "url": self.url,
            "state": self.state,
            "encoding": self.encoding,
            "connected_since": self.connected_since,
            "last_message_at": self.last_message_at,
            "messages_received": self.messages_received,
            "bytes_received": self.bytes_received,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "invalid_messages": self.invalid_messages,
            "requests_sent": self.requests_sent,
            "pairs": pairs,
            "latency_ms_p50": lat[len(lat) // 2] if lat else None,
            "latency_ms_p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
        }


class ProducerClient:
    """Follow one producer and keep its data in ``store``."""

    def __init__(
        self,
        producer: ProducerConfig,
        settings: ExternalMessageConsumerConfig,
        store: ProducerStore,
        clock: Clock | None = None,
    ) -> None:
        self.producer = producer
        self.clock: Clock = clock or LiveClock()
        self.settings = settings
        self.store = store
        self.name = producer.name
        self.status = ConnectionStatus(self.name, producer_url(producer, token=False))
        self.session = ConsumerSession(
            SessionSettings(
                initial_candle_limit=settings.initial_candle_limit,
                remove_entry_exit_signals=settings.remove_entry_exit_signals,
                wait_timeout=settings.wait_timeout,
                ping_timeout=settings.ping_timeout,
            )
        )
        self._connected_once = False
        self._abort = False
        self._synced_keys: set[object] = set()

    # --- connection loop ----------------------------------------------------------------
    async def run(self) -> None:
        """Connect, receive, reconnect after ``sleep_time``; until cancelled."""
        last_reason: str | None = None
        while True:
            try:
                await self._connection()
                reason = "connection closed by the producer"
            except asyncio.CancelledError:
                self.status.state = "stopped"
                raise
            except InvalidProducerURL as exc:
                self.status.state = "failed"
                self.status.last_error = str(exc)
                logger.error("Cannot follow producer %s: %s", self.name, exc)
                return
            except (ProducerUnavailable, ProtocolViolation) as exc:
                reason = str(exc)
            except Exception as exc:  # any other failure: report it and retry
                reason = f"{type(exc).__name__}: {exc}"
            self.status.state = "disconnected"
            self.status.last_error = reason
            self.status.connected_since = None
            if reason != last_reason:
                logger.warning(
                    # never connected yet: nothing was lost
                    "Lost producer %s: %s; retrying every %s s"
                    if self._connected_once
                    else "Cannot connect to producer %s yet: %s; retrying every %s s",
                    self.name,
                    reason,
                    _num(self.settings.sleep_time),
                )
            else:
                logger.debug("Producer %s still unavailable: %s", self.name, reason)
            last_reason = reason
            await asyncio.sleep(self.settings.sleep_time)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.producer.secure:
            return None
        context = (
            ssl.create_default_context(cafile=self.producer.ca_file)
            if self.producer.ca_file
            else ssl.create_default_context()
        )
        return context

    async def _connection(self) -> None:
        self.status.state = "connecting"
        if not is_valid_host(self.producer.host):
            raise InvalidProducerURL(
                f"invalid URL: host {self.producer.host!r} is not a hostname or IP address"
            )
        try:
            ws = await connect(
                producer_url(self.producer),
                ssl=self._ssl_context(),
                **connect_options(self.settings),
            )
        # before ValueError: SSLCertVerificationError is one, and it must be retried
        except ssl.SSLCertVerificationError as exc:
            raise ProducerUnavailable(
                f"certificate of producer {self.name} does not verify: {exc.verify_message}"
            ) from None
        except (InvalidURI, ValueError) as exc:
            raise InvalidProducerURL(
                f"invalid URL for host {self.producer.host!r} port {self.producer.port}: {exc}"
            ) from None
        except InvalidStatus as exc:
            if exc.response.status_code == 403:
                raise TokenRefused(f"producer {self.name} refused the ws_token") from None
            raise ProducerUnavailable(
                f"producer {self.name} answered HTTP {exc.response.status_code}"
            ) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ProducerUnavailable(
                f"cannot connect to {self.status.url}: {exc or type(exc).__name__}"
            ) from None
        encoding = proto.negotiated_encoding(ws.subprotocol)
        self.status.encoding = encoding
        self.status.state = "connected"
        self.status.connected_since = self.clock.timestamp()
        self.status.last_error = None  # a past failure is no longer the state
        self._synced_keys = set()
        if self._connected_once:
            self.status.reconnects += 1
        self._connected_once = True
        self._abort = False
        logger.info(
            "Connected to producer %s at %s (%s)", self.name, self.status.url, self.status.encoding
        )
        try:
            await self._apply(
                ws, self.session.on_open(self.clock.monotonic(), encoding), count=False
            )
            await self._receive_loop(ws)
        except ConnectionClosed as exc:
            code = exc.sent.code if exc.sent else (exc.rcvd.code if exc.rcvd else None)
            if code == 1009:
                raise ProducerUnavailable(
                    f"message from {self.name} exceeds message_size_limit={self.settings.message_size_limit} MB"
                ) from None
            if exc.rcvd is not None and exc.rcvd.code == 1013:
                raise ProducerUnavailable(
                    f"producer {self.name} dropped us as a slow consumer"
                ) from None
            raise ProducerUnavailable(f"connection closed ({code or 'no close frame'})") from None
        finally:
            self.session.on_close()
            if self._abort:
                # nothing comes back on a frozen connection: do not wait for a closing handshake
                ws.transport.abort()
            await ws.close()

    async def _receive_loop(self, ws: ClientConnection) -> None:
        while True:
            deadline = self.session.next_deadline()
            wait = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that races with recv() completing, and the task never stops.
            try:
                async with asyncio.timeout(wait):
                    raw = await ws.recv()
            except TimeoutError:
                await self._apply(ws, self.session.on_tick(self.clock.monotonic()))
                continue
            await self._apply(ws, self.handle_frame(raw))

    async def _apply(self, ws: ClientConnection, actions: list[Action], count: bool = True) -> None:
        """Carry out the session's actions, in order."""
        for action in actions:
            if isinstance(action, StoreFrame):
                self.store.put(
                    self.name, action.key, action.frame, action.analyzed_at, self.clock.timestamp()
                )
            elif isinstance(action, SetPairs):
                self.store.set_pairs(self.name, action.pairs)
            elif isinstance(action, SendRequest):
                if count:
                    logger.info("Producer %s, %s", self.name, action.reason)
                    self.status.requests_sent += 1
                await ws.send(action.text)
            elif isinstance(action, SendPing):
                await self._ping(ws)
            elif isinstance(action, Close):
                self._abort = action.abort
                self.status.last_error = action.reason
                self.status.state = "disconnected"
                raise ProducerUnavailable(action.reason)

    async def _ping(self, ws: ClientConnection) -> None:
        sent = self.clock.monotonic()
        # ping() gives the future websockets resolves with the pong (ensure_future returns
        # it as is, typed): no task is started, so there is nothing to own
        pong = asyncio.ensure_future(await ws.ping())

        def answered(done: asyncio.Future[float]) -> None:
            if done.cancelled() or done.exception() is not None:
                return  # the connection closed first
            now = self.clock.monotonic()
            self.session.on_pong(now)
            logger.debug("Producer %s alive, ping %.1f ms", self.name, (now - sent) * 1000)

        pong.add_done_callback(answered)

    # --- message handling (no I/O) -------------------------------------------------------
    def handle_frame(self, raw: str | bytes) -> list[Action]:
        """Hand one received frame to the session; return the actions to carry out."""
        now = self.clock.timestamp()
        self.status.messages_received += 1
        self.status.bytes_received += len(raw)
        self.status.last_message_at = now
        try:
            message = proto.parse_message(raw, self.session.encoding)
            actions = self.session.on_message(message, self.clock.monotonic())
        except ProtocolViolation as exc:
            self.status.invalid_messages += 1
            logger.warning("Ignored invalid message from producer %s: %s", self.name, exc)
            return []
        except Exception as exc:  # never let one message kill the connection
            self.status.invalid_messages += 1
            logger.warning(
                "Ignored message from producer %s that could not be applied: %s: %s",
                self.name,
                type(exc).__name__,
                exc,
            )
            return []
        # latency of every update after a pair's first frame on this connection (the first
        # answers our request: its analysis may be old), however many rows it carries
        stored = [a.key for a in actions if isinstance(a, StoreFrame)]
        live = isinstance(message, proto.AnalyzedDfMessage) and any(
            k in self._synced_keys for k in stored
        )
        self._synced_keys.update(stored)
        if live:
            # latency of live updates: from the producer's analysis (or send) to here
            assert isinstance(message, proto.AnalyzedDfMessage)
            origin = message.sent_at
            if origin is None:
                origin = message.analyzed_at.timestamp()
            self.status.latencies_ms.append((self.clock.timestamp() - origin) * 1000)
        return actions


def _num(value: float) -> str:
    return f"{value:g}"


__all__ = [
    "ConnectionStatus",
    "ProducerClient",
    "connect_options",
    "offered_encodings",
    "producer_url",
]
