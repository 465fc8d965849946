"""The REST API and the message websocket, as one FastAPI application.

Routes live in ``api/routers`` by area and stay thin: they read what the bot exposes
through ``ApiContext`` (``app.state.ctx``). The message websocket is authenticated in
``routers/ws.py`` and served by ``messaging/server.py``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from candlecast import __version__
from candlecast.api.context import ApiContext
from candlecast.api.deps import require_auth
from candlecast.api.metrics import mount_metrics
from candlecast.api.routers import fleet, locks, pairs, system, trades, unavailable, ws


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def create_app(ctx: ApiContext) -> FastAPI:
    """The application serving ``ctx``: freqtrade's REST API, the message websocket, /fleet."""
    api = ctx.config.api_server
    app = FastAPI(title="candlecast", version=__version__, default_response_class=ORJSONResponse)
    app.state.ctx = ctx
    if api.CORS_origins:
        # FreqUI served from another origin: its login sends basic auth, the rest a bearer token
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.CORS_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    for module in (system, trades, pairs, locks, unavailable, ws, fleet):
        app.include_router(module.router)
    if ctx.metrics is not None:
        mount_metrics(app, ctx.metrics, require_auth)
    return app
