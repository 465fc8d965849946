"""Keep secrets out of every log line, uvicorn's access and websocket lines included.

Redaction happens where log records are created (a record factory), so it covers
every logger and every handler, including ones added later (tests' capture too).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

_QUERY_SECRET = re.compile(r"((?:token|ws_token|password|secret)=)[^&\s\"']*", re.IGNORECASE)


class SecretRedactor:
    """Replaces query-string secrets and the registered secret values in log records.

    Python has one log record factory per process, so ``install()`` wraps it; the owner
    (the bot, from ``open`` to ``close``) calls ``uninstall()`` when done. Redactors of
    several bots in one process chain; one uninstalled out of order passes records on.
    """

    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets: list[str] = []
        self._lock = threading.Lock()
        self._installed = False
        self._previous: Callable[..., logging.LogRecord] | None = None
        self._factory: Callable[..., logging.LogRecord] | None = None
        self.add(secrets or [])

    @property
    def installed(self) -> bool:
        return self._installed

    def add(self, secrets: list[str]) -> None:
        with self._lock:
            merged = set(self.secrets) | {s for s in secrets if s}
            self.secrets = sorted(merged, key=len, reverse=True)

    def redact(self, message: str) -> str:
        redacted = _QUERY_SECRET.sub(r"\1***", message) if "=" in message else message
        for secret in self.secrets:
            if secret in redacted:
                redacted = redacted.replace(secret, "***")
        return redacted

    def install(self) -> None:
        """Redact every log record created from now on (idempotent)."""
        with self._lock:
            if self._installed:
                return
            self._installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if not self._installed:
                return record
            try:
                message = record.getMessage()
            except Exception:
                return record
            redacted = self.redact(message)
            if redacted != message:
                record.msg = redacted
                record.args = None
            return record

        self._previous, self._factory = previous, factory
        logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        """Stop redacting; restore the previous factory if nothing wrapped this one since."""
        with self._lock:
            if not self._installed:
                return
            self._installed = False
        if self._previous is not None and logging.getLogRecordFactory() is self._factory:
            logging.setLogRecordFactory(self._previous)
        self._previous = self._factory = None
