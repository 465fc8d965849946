"""uvicorn's sans-I/O websocket protocol with flow control on sends.

uvicorn's implementation writes every frame to the transport at once, so a consumer
that stops reading makes the producer buffer without limit, invisibly to the
slow-consumer policy. Here a send returns only once the transport is writable
again, so back-pressure reaches the channel's writer and its bounded outbox.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class FlowControlledWebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.send" and not self.writable.is_set():
            await self.writable.wait()
