"""A websocket stand-in for hub tests: it records what a channel sends."""

from __future__ import annotations


class RecordingSocket:
    """Keeps every frame a channel sends, in order, and the codes it closes with."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.closed: list[int] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed.append(code)
