"""Authentication primitives: ws tokens, HTTP basic, bearer headers and HS256 JWTs."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest

from candlecast.api import auth

TOKENS = ["first-token-aaaa", "second-token-bbbb"]


SECRET = "s" * 32


def subject(candidate: str | None, tokens: list[str] = TOKENS) -> str | None:
    return auth.ws_token_subject(candidate, tokens, SECRET)


@pytest.mark.parametrize("candidate", TOKENS)
def test_any_configured_token_is_accepted_as_itself(candidate: str):
    assert subject(candidate) == candidate


@pytest.mark.parametrize(
    "candidate",
    [None, "", "first-token-aaa", "first-token-aaaaa", "FIRST-TOKEN-AAAA", " first-token-aaaa"],
)
def test_anything_else_is_refused(candidate: str | None):
    assert subject(candidate) is None


def test_no_configured_token_accepts_nothing():
    assert subject("x", []) is None
    assert subject("", [""]) is None


def test_tokens_with_lone_surrogates_are_compared_not_crashed_on():
    assert subject("\ud800abc", ["\ud800abc"]) == "\ud800abc"
    assert subject("\ud800abc", ["abc"]) is None


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_credentials_are_decoded():
    assert auth.basic_credentials(basic("user:pa:ss")) == ("user", "pa:ss")
    assert auth.basic_credentials("basic " + basic("u:")[6:]) == ("u", "")
    assert auth.basic_credentials(basic("u:p") + "  ") == ("u", "p")


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer abc", basic("no-colon"), "Basic !!!not-base64", "Basic " + "/w=="],
)
def test_malformed_basic_headers_give_no_credentials(header: str | None):
    assert auth.basic_credentials(header) is None


def test_credentials_match_only_both_exactly():
    assert auth.credentials_match("u", "p", "u", "p") is True
    assert auth.credentials_match("u", "x", "u", "p") is False
    assert auth.credentials_match("x", "p", "u", "p") is False
    assert auth.credentials_match("", "", "", "") is False  # unset credentials never match
    assert auth.credentials_match("u", "", "u", "") is False
    assert auth.credentials_match("", "p", "", "p") is False


def test_bearer_token_is_taken_from_the_header():
    assert auth.bearer_token("Bearer abc.def") == "abc.def"
    assert auth.bearer_token("bearer  abc ") == "abc"
    assert auth.bearer_token("Bearer ") is None
    assert auth.bearer_token("Basic abc") is None
    assert auth.bearer_token(None) is None


SECRET = "s" * 32


def test_a_jwt_verifies_with_its_claims_until_it_expires():
    token = auth.create_jwt(SECRET, "alice", "access", 900, now=1_000_000.0)
    claims = auth.verify_jwt(token, SECRET, "access", now=1_000_000.0 + 899)
    assert claims == {"sub": "alice", "type": "access", "iat": 1_000_000, "exp": 1_000_900}
    assert auth.verify_jwt(token, SECRET, "access", now=1_000_900.0) is not None  # exp itself
    assert auth.verify_jwt(token, SECRET, "access", now=1_000_900.5) is None


def test_a_jwt_is_standard_hs256():
    token = auth.create_jwt(SECRET, "alice", "refresh", 60, now=0.0)
    header, payload, signature = token.split(".")
    assert "=" not in token
    pad = lambda t: t + "=" * (-len(t) % 4)  # noqa: E731
    assert orjson.loads(base64.urlsafe_b64decode(pad(header))) == {"alg": "HS256", "typ": "JWT"}
    expected = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(pad(signature)) == expected


def test_a_jwt_of_another_kind_secret_or_shape_is_refused():
    token = auth.create_jwt(SECRET, "alice", "refresh", 900, now=0.0)
    assert auth.verify_jwt(token, SECRET, "access", now=1.0) is None
    assert auth.verify_jwt(token, SECRET, "refresh", now=1.0) is not None
    assert auth.verify_jwt(token, "t" * 32, "refresh", now=1.0) is None
    header, payload, signature = token.split(".")
    assert auth.verify_jwt(f"{header}.{payload}", SECRET, "refresh", now=1.0) is None
    assert auth.verify_jwt(f"{header}.{payload}.{signature}x", SECRET, "refresh", now=1.0) is None
    assert auth.verify_jwt("not a token", SECRET, "refresh", now=1.0) is None


def forged(header: object, claims: object) -> str:
    b64 = lambda d: base64.urlsafe_b64encode(orjson.dumps(d)).rstrip(b"=").decode()  # noqa: E731
    head = f"{b64(header)}.{b64(claims)}"
    sig = hmac.new(SECRET.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_signed_tokens_with_another_algorithm_or_odd_claims_are_refused():
    good = {"sub": "a", "type": "access", "exp": 10}
    assert auth.verify_jwt(forged({"alg": "HS256"}, good), SECRET, now=1.0) == good
    assert auth.verify_jwt(forged({"alg": "none"}, good), SECRET, now=1.0) is None
    assert auth.verify_jwt(forged({}, good), SECRET, now=1.0) is None
    assert auth.verify_jwt(forged(["HS256"], good), SECRET, now=1.0) is None
    assert auth.verify_jwt(forged({"alg": "HS256"}, [good]), SECRET, now=1.0) is None
    no_exp = {"sub": "a", "type": "access"}
    assert auth.verify_jwt(forged({"alg": "HS256"}, no_exp), SECRET, now=1.0) is None


def test_default_lifetimes():
    assert auth.ACCESS_TOKEN_SECONDS == 15 * 60
    assert auth.REFRESH_TOKEN_SECONDS == 30 * 24 * 3600


def test_now_defaults_to_the_clock():
    token = auth.create_jwt(SECRET, "alice", "access", 60)
    claims = auth.verify_jwt(token, SECRET)
    assert claims is not None and claims["exp"] - claims["iat"] == 60
    assert auth.verify_jwt(auth.create_jwt(SECRET, "a", "access", -5), SECRET) is None


def test_basic_credentials_with_characters_outside_base64_are_refused():
    assert auth.basic_credentials(basic("u:p") + "*") is None
    assert auth.basic_credentials("Basic dT!pw") is None
