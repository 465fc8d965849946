"""Keep secrets out of every log line, uvicorn's access and websocket lines included.

Redaction happens where log records are created (a record factory), so it covers
every logger and every handler, including ones added later (tests' capture too).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

_QUERY_SECRET = re.compile(r"((?:token|ws_token|password|secret)=)[^&\s\"']*", re.IGNORECASE)


class _Redactor:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self._lock = threading.Lock()
        self._installed = False

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
        with self._lock:
            if self._installed:
                return
            self._installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:
                return record
            redacted = self.redact(message)
            if redacted != message:
                record.msg = redacted
                record.args = None
            return record

        logging.setLogRecordFactory(factory)


REDACTOR = _Redactor()


def install_redaction(secrets: list[str]) -> None:
    """Redact query-string secrets and the given secret values from all log records."""
    REDACTOR.add(secrets)
    REDACTOR.install()
