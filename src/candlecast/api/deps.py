"""FastAPI dependencies: the bot's context and freqtrade's authentication rules.

Every route but ``ping``, ``token/login`` and the fleet page's static files needs
either HTTP basic credentials (``api_server.username``/``password``) or a bearer access
token from ``token/login``.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from candlecast.api import auth
from candlecast.api.context import ApiContext


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def unauthorized() -> HTTPException:
    return HTTPException(
        status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": "Basic"}
    )


def basic_user(request: Request) -> str | None:
    """The user name of valid basic credentials in ``request``, else None."""
    api = get_ctx(request).config.api_server
    creds = auth.basic_credentials(request.headers.get("authorization"))
    if creds and auth.credentials_match(creds[0], creds[1], api.username, api.password):
        return creds[0]
    return None


def require_auth(request: Request) -> str:
    """The caller's user name: basic credentials or a bearer access token (else 401)."""
    user = basic_user(request)
    if user is not None:
        return user
    token = auth.bearer_token(request.headers.get("authorization"))
    if token:
        claims = auth.verify_jwt(token, get_ctx(request).jwt_secret, "access")
        if claims:
            return str(claims.get("sub"))
    raise unauthorized()
