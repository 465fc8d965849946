"""Authentication: ws tokens, HTTP basic, and HS256 JWTs; every comparison constant-time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson

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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def create_jwt(
    secret: str, subject: str, kind: str, lifetime: float, now: float | None = None
) -> str:
    now = time.time() if now is None else now
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    payload = _b64(
        orjson.dumps({"sub": subject, "type": kind, "iat": int(now), "exp": int(now + lifetime)})
    )
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def verify_jwt(
    token: str, secret: str, kind: str = "access", now: float | None = None
) -> dict[str, Any] | None:
    """Return the claims of a valid, unexpired token of ``kind``, else None."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        expected = hmac.new(
            secret.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(expected, _unb64(signature_b64)):
            return None
        header = orjson.loads(_unb64(header_b64))
        claims = orjson.loads(_unb64(payload_b64))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return None
    if claims.get("type") != kind or float(claims.get("exp", 0)) < (
        time.time() if now is None else now
    ):
        return None
    return claims
