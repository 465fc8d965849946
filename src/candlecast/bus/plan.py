"""What a producer publishes to NATS JetStream and how a follower checks it, without I/O.

Two streams per producer (``stream`` is ``message_bus.stream``):

- ``<stream>`` holds the updates, kept ``update_max_age`` seconds:
  ``<prefix>.upd.<pair>.<timeframe>.<candle type>`` carries the rows of each broadcast
  (exactly what the websocket hub sends, in ``BUS_ENCODING``), ``<prefix>.wl`` each
  whitelist change (JSON, as on the websocket).
- ``<stream>_LAST`` keeps one message per subject (``max_msgs_per_subject=1``):
  ``<prefix>.snap.<pair>.<timeframe>.<candle type>`` the last full frame,
  ``<prefix>.whitelist`` the last whitelist.

A stream's per-subject limit applies to all its subjects, so the updates, which must all
be kept for replay, cannot share a stream with the snapshots.

Every message of a key carries ``Candlecast-Epoch`` (random, new when the producer starts
or lost a publish) and ``Candlecast-N`` (the number of broadcasts of that key in the
epoch). The snapshot of broadcast N is published (and acknowledged) before update N, so a
follower that reads a snapshot never misses the updates after it. A follower applies
update N only on top of N - 1 of the same epoch; anything else is a gap, mended by reading
that key's snapshot (and only that key's).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import pandas as pd

from candlecast.config.message_bus import MessageBusConfig
from candlecast.domain.analyzed import MAX_CANDLE_LIMIT, PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto

EPOCH = "Candlecast-Epoch"
SEQ_N = "Candlecast-N"
MSG_ID = "Nats-Msg-Id"
DUPLICATE_WINDOW = 120.0  # seconds: a publish retried within this is stored once
#: the encoding of the frames on the bus (snapshots and updates); whitelists are JSON
BUS_ENCODING = proto.Encoding.BINARY
_SAFE = re.compile(r"[^A-Za-z0-9/:_\-]")


def subject_token(text: str) -> str:
    """``text`` as one subject token: '.', '*', '>', blanks and '%' escaped as %XX."""
    return _SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def token_text(token: str) -> str:
    """The inverse of :func:`subject_token`."""
    return re.sub(
        r"(?:%[0-9A-F]{2})+",
        lambda m: bytes.fromhex(m.group().replace("%", "")).decode(),
        token,
    )


@dataclass(frozen=True)
class Subjects:
    """The subject names under one ``subject_prefix``."""

    prefix: str

    def snapshot(self, key: PairKey) -> str:
        return f"{self.prefix}.snap.{self._key(key)}"

    def update(self, key: PairKey) -> str:
        return f"{self.prefix}.upd.{self._key(key)}"

    @property
    def whitelist(self) -> str:
        """The last whitelist (in the ``_LAST`` stream)."""
        return f"{self.prefix}.whitelist"

    @property
    def whitelist_update(self) -> str:
        """Each whitelist change (in the updates stream)."""
        return f"{self.prefix}.wl"

    @property
    def all_snapshots(self) -> str:
        return f"{self.prefix}.snap.>"

    def key_of(self, subject: str) -> PairKey | None:
        """The key of an update or snapshot subject (None: another subject)."""
        tokens = subject[len(self.prefix) + 1 :].split(".")
        if len(tokens) != 4 or tokens[0] not in ("upd", "snap"):
            return None
        try:
            return PairKey(
                token_text(tokens[1]), token_text(tokens[2]), CandleType.from_string(tokens[3])
            )
        except ValueError:
            return None

    @staticmethod
    def _key(key: PairKey) -> str:
        pair, timeframe, candle_type = key
        return ".".join(subject_token(t) for t in (pair, timeframe, str(candle_type)))


def stream_configs(bus: MessageBusConfig) -> list[dict[str, Any]]:
    """The two streams a producer creates (or updates), as ``StreamConfig`` keywords."""
    names = Subjects(bus.subject_prefix)
    return [
        {
            "name": bus.stream,
            "subjects": [f"{bus.subject_prefix}.upd.>", names.whitelist_update],
            "max_age": float(bus.update_max_age),
            "num_replicas": bus.replicas,
            "duplicate_window": DUPLICATE_WINDOW,
        },
        {
            "name": bus.last_stream,
            "subjects": [names.all_snapshots, names.whitelist],
            "max_msgs_per_subject": 1,
            "num_replicas": bus.replicas,
            "duplicate_window": DUPLICATE_WINDOW,
            "allow_direct": True,
        },
    ]


def new_epoch() -> str:
    return secrets.token_hex(6)


# ---------------------------------------------------------------------- producer side


@dataclass(frozen=True)
class Publish:
    """One message to publish (and wait for its acknowledgement)."""

    subject: str
    payload: bytes = field(repr=False)
    headers: dict[str, str]
    key: PairKey | None = None


class PublishPlanner:
    """Turns the producer's broadcasts into messages, keeping each key's (epoch, N)."""

    def __init__(self, subjects: Subjects) -> None:
        self.subjects = subjects
        self._chain: dict[PairKey, tuple[str, int]] = {}
        self._whitelist_epoch = new_epoch()
        self._whitelist_n = 0

    def analyzed(
        self, key: PairKey, frame: pd.DataFrame, part: pd.DataFrame, analyzed_at: datetime
    ) -> list[Publish]:
        """The snapshot (``frame``'s last MAX_CANDLE_LIMIT rows), then the update (``part``,
        the rows the websocket hub broadcasts), both in ``BUS_ENCODING``."""
        epoch, n = self._chain.get(key, (new_epoch(), 0))
        n += 1
        self._chain[key] = (epoch, n)
        headers = {EPOCH: epoch, SEQ_N: str(n)}
        snap = proto.encode_analyzed_df(
            BUS_ENCODING, key, frame.tail(MAX_CANDLE_LIMIT), analyzed_at
        )
        upd = proto.encode_analyzed_df(BUS_ENCODING, key, part, analyzed_at)
        ident = f"{epoch}:{n}:{self.subjects._key(key)}"
        return [
            Publish(self.subjects.snapshot(key), snap, {**headers, MSG_ID: f"s:{ident}"}, key),
            Publish(self.subjects.update(key), upd, {**headers, MSG_ID: f"u:{ident}"}, key),
        ]

    def whitelist(self, pairs: list[str] | tuple[str, ...]) -> list[Publish]:
        self._whitelist_n += 1
        payload = proto.encode_whitelist(pairs)
        headers = {EPOCH: self._whitelist_epoch, SEQ_N: str(self._whitelist_n)}
        ident = f"{self._whitelist_epoch}:{self._whitelist_n}"
        return [
            Publish(self.subjects.whitelist, payload, {**headers, MSG_ID: f"w:{ident}"}),
            Publish(self.subjects.whitelist_update, payload, {**headers, MSG_ID: f"v:{ident}"}),
        ]

    def reset(self) -> None:
        """Start new epochs for every key (a new leader: followers read each snapshot once)."""
        self._chain = {}

    def failed(self, key: PairKey | None) -> None:
        """A publish of ``key`` was lost: start a new epoch, so followers read its snapshot."""
        if key is not None:
            self._chain.pop(key, None)


# ---------------------------------------------------------------------- follower side


class Verdict(Enum):
    APPLY = "apply"  # the next update of the key: merge it
    SKIP = "skip"  # already in what we hold (an older update, or one a snapshot included)
    GAP = "gap"  # something is missing: read this key's snapshot


@dataclass(frozen=True)
class Position:
    epoch: str
    n: int


def position(headers: dict[str, str] | None) -> Position | None:
    """The (epoch, N) a message carries (None: missing or malformed headers)."""
    if not headers:
        return None
    epoch, n = headers.get(EPOCH), headers.get(SEQ_N)
    if not epoch or not n or not n.isdigit():
        return None
    return Position(epoch, int(n))


class FollowState:
    """What a follower applied: per key (epoch, N), and the last update-stream sequence."""

    def __init__(self) -> None:
        self.applied: dict[PairKey, Position] = {}
        self.last_seq = 0  # the last update-stream sequence handled (applied or skipped)

    def judge(self, key: PairKey, at: Position | None) -> Verdict:
        held = self.applied.get(key)
        if at is None or held is None or held.epoch != at.epoch:
            return Verdict.GAP
        if at.n <= held.n:
            return Verdict.SKIP
        return Verdict.APPLY if at.n == held.n + 1 else Verdict.GAP

    def snapshot_covers(self, snapshot: Position | None, update: Position | None) -> bool:
        """A snapshot read for a gap already includes ``update``."""
        return (
            snapshot is not None
            and update is not None
            and snapshot.epoch == update.epoch
            and snapshot.n >= update.n
        )

    def resume_from(self) -> int:
        """The update-stream sequence to follow from after a reconnect."""
        return self.last_seq + 1


__all__ = [
    "EPOCH",
    "SEQ_N",
    "FollowState",
    "Position",
    "Publish",
    "PublishPlanner",
    "Subjects",
    "Verdict",
    "position",
    "stream_configs",
    "subject_token",
    "token_text",
]
