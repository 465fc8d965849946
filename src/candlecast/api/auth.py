"""Authentication: ws tokens, HTTP basic, and HS256 JWTs (PyJWT); every comparison constant-time."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any

import jwt

ACCESS_TOKEN_SECONDS = 15 * 60
REFRESH_TOKEN_SECONDS = 30 * 24 * 3600


def ws_token_subject(presented: str | None, tokens: list[str], jwt_secret: str) -> str | None:
    """Who may open the message websocket with ``presented``, or None to refuse (close 1008).

    Accepted: one of the configured ``tokens`` (that token is returned), or an access token
    of ``/api/v1/token/login`` signed with ``jwt_secret`` (its subject, the user name, is
    returned). Tokens are compared as UTF-8 bytes in constant time, so any text works.
    """
    if not presented:
        return None
    raw = presented.encode("utf-8", "surrogatepass")
    found: str | None = None
    for token in tokens:
        # no early exit: every configured token is compared
        if secrets.compare_digest(raw, token.encode("utf-8", "surrogatepass")):
            found = token
    if found is not None:
        return found
    claims = verify_jwt(presented, jwt_secret, "access") if jwt_secret else None
    return None if claims is None else str(claims.get("sub"))


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def credentials_match(user: str, password: str, expected_user: str, expected_password: str) -> bool:
    if not expected_user or not expected_password:
        return False
    ok_user = secrets.compare_digest(user.encode(), expected_user.encode())
    ok_password = secrets.compare_digest(password.encode(), expected_password.encode())
    return ok_user and ok_password


def bearer_token(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def create_jwt(
    secret: str, subject: str, kind: str, lifetime: float, now: float | None = None
) -> str:
    """An HS256 token (PyJWT) for ``subject``: ``kind`` is "access" or "refresh"."""
    now = time.time() if now is None else now
    claims = {"sub": subject, "type": kind, "iat": int(now), "exp": int(now + lifetime)}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_jwt(
    token: str, secret: str, kind: str = "access", now: float | None = None
) -> dict[str, Any] | None:
    """Return the claims of a valid, unexpired HS256 token of ``kind``, else None.

    PyJWT checks the signature (constant time) and that the header names HS256; expiry
    is checked here against ``now`` so that tests can inject time (valid up to ``exp``
    itself).
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp"]},
        )
    except (jwt.PyJWTError, ValueError):  # ValueError: text that is not UTF-8 encodable
        return None
    if not isinstance(claims, dict) or claims.get("type") != kind:
        return None
    try:
        expires = float(claims["exp"])
    except (TypeError, ValueError):
        return None
    return claims if expires >= (time.time() if now is None else now) else None
