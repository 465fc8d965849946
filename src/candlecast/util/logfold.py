"""Fold repeated identical warnings: the first is logged, the repeats are counted.

A consumer retrying with a wrong token makes the producer refuse it every
``sleep_time`` seconds, forever; one line per ``interval`` with a count says the same.
Messages that differ only in a port number (``127.0.0.1:52720``) count as identical.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_PORT = re.compile(r"(?<=[\w\]]):\d{2,5}\b")
MAX_TRACKED = 1000


@dataclass
class _Window:
    started: float
    suppressed: int = 0


class RepeatFolder(logging.Filter):
    """A handler filter: per ``interval`` seconds, one record of each identical warning."""

    def __init__(
        self,
        interval: float = 60.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        message = record.getMessage()
        key = (record.name, record.levelno, _PORT.sub(":*", message))
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started < self.interval:
                window.suppressed += 1
                return False
            if len(self._windows) >= MAX_TRACKED:
                self._forget_older_than(now - self.interval)
            self._windows[key] = _Window(now)
        if window is not None and window.suppressed:
            record.msg = (
                f"{message} (repeated {window.suppressed} more times in the last "
                f"{now - window.started:.0f} s)"
            )
            record.args = None
        return True

    def _forget_older_than(self, limit: float) -> None:
        for key in [k for k, w in self._windows.items() if w.started < limit]:
            del self._windows[key]
