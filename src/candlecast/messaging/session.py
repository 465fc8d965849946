"""The consumer's side of one producer connection, without I/O (sans-I/O).

A :class:`ConsumerSession` is fed what happens (the connection opened, a frame or a
decoded message arrived, time passed, a pong came back) and answers with a list of
actions for its driver to carry out: store a frame, replace the producer's whitelist,
send a request, ping, close. It never reads a clock or touches a socket: every call
takes ``now`` (seconds on a monotonic clock), so tests drive it with plain numbers.

The asyncio client (:mod:`candlecast.messaging.client`) only moves bytes and applies
the actions; the rules for folding a frame into the stored copy are in
:mod:`candlecast.data.merge`.

Rules (freqtrade's consumer, see docs/compat.md for where we differ):

- On every (re)connect: subscribe to ``whitelist`` and ``analyzed_df``, ask for the
  whitelist, ask for the last ``initial_candle_limit`` candles of every pair.
- A frame that cannot be appended (nothing stored, candles missing) asks the producer
  for the missing candles plus one of overlap; at most one request per pair is
  outstanding, and it expires after ``REQUEST_EXPIRY`` seconds.
- A small frame that answers our request (or the initial request, within
  ``INITIAL_SYNC_WINDOW`` seconds of connecting) seeds the store, whatever its length.
- An empty whitelist is ignored (freqtrade does the same).
- No message for ``wait_timeout`` seconds: ping; no pong within ``ping_timeout``
  seconds more: close (abort, since nothing comes back on a frozen connection).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from candlecast.data.merge import merge_update, strip_signals
from candlecast.domain.analyzed import PairKey
from candlecast.messaging import protocol as proto

REQUEST_EXPIRY = 30.0
INITIAL_SYNC_WINDOW = 60.0
CLOSE_NO_PONG = 1011


# ---------------------------------------------------------------------- actions


@dataclass(frozen=True)
class StoreFrame:
    """Replace the stored copy of ``key`` with ``frame`` (a new object, never modified)."""

    key: PairKey
    frame: pd.DataFrame = field(compare=False)
    analyzed_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class SetPairs:
    """Replace the producer's whitelist."""

    pairs: tuple[str, ...]


@dataclass(frozen=True)
class SendRequest:
    """Send ``text`` to the producer; ``reason`` says why (for the log)."""

    text: str
    reason: str = ""


@dataclass(frozen=True)
class SendPing:
    """Send a websocket ping; call :meth:`ConsumerSession.on_pong` when its pong arrives."""


@dataclass(frozen=True)
class Close:
    """Close the connection with ``code``; ``abort``: do not wait for a closing handshake."""

    code: int
    reason: str
    abort: bool = False


Action = StoreFrame | SetPairs | SendRequest | SendPing | Close


@dataclass(frozen=True)
class SessionSettings:
    """What the session needs from ``external_message_consumer``."""

    initial_candle_limit: int = 1500
    remove_entry_exit_signals: bool = False
    wait_timeout: float = 30.0
    ping_timeout: float = 10.0


# ---------------------------------------------------------------------- the session


class ConsumerSession:
    """What one consumer knows about one producer, and what it does next."""

    def __init__(self, settings: SessionSettings | None = None) -> None:
        self.settings = settings or SessionSettings()
        # what we stored last, per key (the same objects the driver stores)
        self.frames: dict[PairKey, pd.DataFrame] = {}
        self._outstanding: dict[str, float] = {}
        self._opened_at: float | None = None
        self._seeded: set[str] = set()
        self._last_heard = 0.0
        self._ping_sent_at: float | None = None
        #: the encoding the producer answered the connection with (frames decode by it)
        self.encoding = proto.Encoding.JSON

    # --- events ------------------------------------------------------------------------
    def on_open(self, now: float, encoding: proto.Encoding = proto.Encoding.JSON) -> list[Action]:
        """The connection is open, in ``encoding``: the requests to send first, in order."""
        self.encoding = encoding
        self._outstanding.clear()
        self._seeded.clear()
        self._opened_at = now
        self._last_heard = now
        self._ping_sent_at = None
        return [
            SendRequest(raw.decode(), "initial request")
            for raw in proto.initial_requests(self.settings.initial_candle_limit)
        ]

    def on_close(self) -> None:
        """The connection is gone: nothing is outstanding any more."""
        self._opened_at = None
        self._outstanding.clear()
        self._ping_sent_at = None

    def on_data(self, raw: str | bytes, now: float) -> list[Action]:
        """A websocket frame arrived (bytes: a binary websocket frame), decoded in the
        connection's encoding.

        Raises:
            ProtocolViolation: the frame is malformed; nothing changed.
        """
        self._heard(now)
        return self.on_message(proto.parse_message(raw, self.encoding), now)

    def on_message(self, message: proto.Message, now: float) -> list[Action]:
        """A decoded producer message arrived."""
        self._heard(now)
        if isinstance(message, proto.WhitelistMessage):
            if not message.pairs:
                return []
            return [SetPairs(message.pairs)]
        if isinstance(message, proto.AnalyzedDfMessage):
            return self._on_analyzed(message, now)
        return []  # new_candle and other types carry nothing to store

    def on_pong(self, now: float) -> list[Action]:
        self._heard(now)
        return []

    def on_tick(self, now: float) -> list[Action]:
        """Time passed: expire requests; ping a quiet producer; close a frozen connection."""
        for pair, sent in list(self._outstanding.items()):
            if now - sent >= REQUEST_EXPIRY:
                del self._outstanding[pair]
        if self._opened_at is None:
            return []
        if self._ping_sent_at is not None:
            if now - self._ping_sent_at >= self.settings.ping_timeout:
                self._ping_sent_at = None
                return [
                    Close(
                        CLOSE_NO_PONG,
                        f"no message for {self.settings.wait_timeout:g} s and no pong "
                        f"within {self.settings.ping_timeout:g} s",
                        abort=True,
                    )
                ]
            return []
        if now - self._last_heard >= self.settings.wait_timeout:
            self._ping_sent_at = now
            return [SendPing()]
        return []

    def next_deadline(self) -> float | None:
        """When :meth:`on_tick` has something to do next (None: nothing is pending)."""
        deadlines = [sent + REQUEST_EXPIRY for sent in self._outstanding.values()]
        if self._opened_at is not None:
            if self._ping_sent_at is not None:
                deadlines.append(self._ping_sent_at + self.settings.ping_timeout)
            else:
                deadlines.append(self._last_heard + self.settings.wait_timeout)
        return min(deadlines) if deadlines else None

    # --- rules -------------------------------------------------------------------------
    def outstanding(self, now: float) -> list[str]:
        """Pairs we asked for and were not answered yet (nor did the request expire)."""
        return [p for p, sent in self._outstanding.items() if now - sent < REQUEST_EXPIRY]

    def _heard(self, now: float) -> None:
        self._last_heard = now
        self._ping_sent_at = None

    def _requested(self, pair: str, now: float) -> bool:
        sent = self._outstanding.get(pair)
        if sent is not None and now - sent < REQUEST_EXPIRY:
            return True
        initial = self._opened_at is not None and now - self._opened_at < INITIAL_SYNC_WINDOW
        return initial and pair not in self._seeded

    def _on_analyzed(self, message: proto.AnalyzedDfMessage, now: float) -> list[Action]:
        key = message.key
        frame = message.frame
        if frame.empty:
            return []
        if self.settings.remove_entry_exit_signals:
            frame = strip_signals(frame)
        result = merge_update(
            self.frames.get(key), frame, key.timeframe, self._requested(key.pair, now)
        )
        actions: list[Action] = []
        if result.frame is not None:
            self._outstanding.pop(key.pair, None)
            self._seeded.add(key.pair)
            self.frames[key] = result.frame
            actions.append(StoreFrame(key, result.frame, message.analyzed_at, result.reason))
        if result.request_limit is not None and key.pair not in self.outstanding(now):
            self._outstanding[key.pair] = now
            text = proto.analyzed_df_request(result.request_limit, key.pair).decode()
            actions.append(SendRequest(text, f"{key.pair}: {result.reason}"))
        return actions


__all__ = [
    "INITIAL_SYNC_WINDOW",
    "REQUEST_EXPIRY",
    "Action",
    "Close",
    "ConsumerSession",
    "SendPing",
    "SendRequest",
    "SessionSettings",
    "SetPairs",
    "StoreFrame",
]
