"""What a consumer knows of its producers: their whitelists and analyzed frames.

Writers (the websocket clients, on the event loop) replace whole entries under a
lock; readers (strategies, in worker threads) copy an entry under the same lock.
Stored frames are never modified in place, so a reader can never see a
half-updated frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from candlecast.domain.analyzed import PairKey

# Called with (producer, key) after a frame changed, (producer, None) after its whitelist changed.
UpdateListener = Callable[[str, PairKey | None], None]


@dataclass(frozen=True)
class StoredFrame:
    frame: pd.DataFrame
    analyzed_at: datetime
    received_at: float


class ProducerStore:
    """Thread-safe store of producer data, keyed by producer name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[str, tuple[str, ...]] = {}
        self._frames: dict[tuple[str, PairKey], StoredFrame] = {}
        self._listeners: list[UpdateListener] = []

    def add_listener(self, listener: UpdateListener) -> None:
        """Call ``listener`` after every stored frame or whitelist change."""
        self._listeners.append(listener)

    def set_pairs(self, producer: str, pairs: tuple[str, ...]) -> None:
        with self._lock:
            changed = self._pairs.get(producer) != tuple(pairs)
            self._pairs[producer] = tuple(pairs)
        if changed:
            for listener in self._listeners:
                listener(producer, None)

    def pairs(self, producer: str) -> list[str]:
        with self._lock:
            return list(self._pairs.get(producer, ()))

    def put(
        self,
        producer: str,
        key: PairKey,
        frame: pd.DataFrame,
        analyzed_at: datetime,
        received_at: float,
    ) -> None:
        entry = StoredFrame(frame, analyzed_at, received_at)
        with self._lock:
            self._frames[(producer, key)] = entry
        for listener in self._listeners:
            listener(producer, key)

    def get(self, producer: str, key: PairKey) -> StoredFrame | None:
        """Return the stored entry (treat its frame as read-only; copy before changing)."""
        with self._lock:
            return self._frames.get((producer, key))

    def keys(self, producer: str) -> list[PairKey]:
        with self._lock:
            return [key for (name, key) in self._frames if name == producer]

    def producers(self) -> list[str]:
        with self._lock:
            return sorted({name for name, _ in self._frames} | set(self._pairs))
