"""Signed tokens: the mailed link and the session cookie.

A token is `<payload>.<signature>`, both base64url: the payload is JSON with the
purpose ("link" or "session"), person id, expiry (epoch seconds) and the link's
nonce; the signature is HMAC-SHA256 over the payload under the portal key. The
purpose is signed, so a session cookie never passes as a link or back. Nothing
here is secret from the holder (a person id); it only cannot be forged.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass


class BadToken(ValueError):
    """Not a token this key signed (or not for this purpose)."""


class ExpiredToken(ValueError):
    """Signed by this key, but past its expiry."""


@dataclass(frozen=True)
class Claims:
    purpose: str
    person_id: str
    expires: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def make(key: bytes, purpose: str, person_id: str, expires: int, nonce: str | None = None) -> str:
    body = {"p": purpose, "id": person_id, "exp": int(expires), "n": nonce or secrets.token_urlsafe(16)}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(key, payload)}"


def make_link(key: bytes, person_id: str, minutes: int, now: float | None = None) -> str:
    return make(key, "link", person_id, int((time.time() if now is None else now) + minutes * 60))


def read(key: bytes, token: str, purpose: str, now: float | None = None,
         check_expiry: bool = True) -> Claims:
    """The claims of a token signed by `key` for `purpose`; BadToken, or ExpiredToken
    (checked after the signature, so an expired answer is only given to a real link)."""
    payload, _, signature = (token or "").partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(key, payload)):
        raise BadToken("not a valid link")
    try:
        body = json.loads(_unb64(payload))
        claims = Claims(body["p"], str(body["id"]), int(body["exp"]), str(body["n"]))
    except (ValueError, KeyError, TypeError):
        raise BadToken("not a valid link") from None
    if claims.purpose != purpose:
        raise BadToken("not a valid link")
    if check_expiry and claims.expires <= (time.time() if now is None else now):
        raise ExpiredToken("this link has expired")
    return claims
