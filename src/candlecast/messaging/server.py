"""The producer's side of one message websocket: accept, read requests, hand them to the hub.

The API layer authenticates the connection (``api/routers/ws.py``); from then on the
socket belongs to a hub ``Channel``: this module reads the consumer's requests and
passes each to the channel, whose writer task sends the replies and broadcasts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from starlette.websockets import WebSocketDisconnect

from candlecast.messaging.hub import MessageHub, WebSocketLike
from candlecast.messaging.protocol import accept_encoding

logger = logging.getLogger(__name__)


class ServerSocket(WebSocketLike, Protocol):
    """What the read loop needs from an accepted-to-be server websocket (Starlette's)."""

    @property
    def scope(self) -> Mapping[str, Any]: ...

    async def accept(self, subprotocol: str | None = None) -> None: ...

    async def receive(self) -> Mapping[str, Any]: ...


async def serve_consumer(hub: MessageHub, websocket: ServerSocket, peer: str) -> None:
    """Accept an authenticated consumer and serve it until it leaves or is dropped."""
    encoding = accept_encoding(websocket.scope.get("subprotocols", []))
    await websocket.accept(subprotocol=encoding.subprotocol)
    channel = hub.open_channel(websocket, peer, encoding)
    logger.info("Consumer %s connected (%s)", peer, encoding)
    try:
        while not channel.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            payload = message.get("text")
            if payload is None:
                payload = message.get("bytes")
            if payload is not None:
                channel.handle_request(payload)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await channel.aclose()
        logger.info(
            "Consumer %s disconnected%s",
            peer,
            f" ({channel.close_reason})" if channel.close_reason else "",
        )
