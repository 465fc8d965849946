"""``/api/v1/message/ws``: authenticate, then hand the socket to ``messaging.server``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from candlecast.api import auth
from candlecast.api.context import ApiContext
from candlecast.messaging.hub import CLOSE_POLICY
from candlecast.messaging.protocol import WS_PATH
from candlecast.messaging.server import serve_consumer

logger = logging.getLogger(__name__)

router = APIRouter()


@router.websocket(WS_PATH)
async def message_ws(websocket: WebSocket) -> None:
    ctx: ApiContext = websocket.app.state.ctx
    peer = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "unknown"
    token = websocket.query_params.get("token") or auth.bearer_token(
        websocket.headers.get("authorization")
    )
    allowed = (
        auth.ws_token_subject(token, ctx.config.api_server.ws_token, ctx.jwt_secret) is not None
    )
    if ctx.hub is None or not allowed:
        logger.warning(
            "Refused message websocket from %s: %s",
            peer,
            "missing token" if not token else "wrong token",
        )
        await websocket.close(code=CLOSE_POLICY)
        return
    await serve_consumer(ctx.hub, websocket, peer)
