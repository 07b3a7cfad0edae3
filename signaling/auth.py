"""Clerk access tokens (signed JWT, expiring) and TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt

from signaling.errors import AuthError
from signaling.messages import IceServer

_ALGORITHM = "HS256"
_AUDIENCE = "vcounter-console"


@dataclass(frozen=True)
class ClerkClaims:
    clerk_id: int
    username: str
    role: str


def issue_token(key: str, clerk_id: int, username: str, role: str, ttl_s: int) -> str:
    """A signed token a clerk presents when connecting; valid for ``ttl_s`` seconds."""
    now = int(time.time())
    claims = {
        "sub": str(clerk_id),
        "name": username,
        "role": role,
        "iat": now,
        "exp": now + ttl_s,
        "aud": _AUDIENCE,
    }
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def check_token(key: str, token: object) -> ClerkClaims:
    """Verify a clerk token, raising :class:`AuthError` that says why it was refused."""
    if not isinstance(token, str) or not token:
        raise AuthError("no access token was sent; sign in first")
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], audience=_AUDIENCE)
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("your session has expired; sign in again") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("the access token is not valid; sign in again") from exc
    return ClerkClaims(int(claims["sub"]), str(claims["name"]), str(claims["role"]))


def turn_credentials(urls: list[str], secret: str, user: str, ttl_s: int) -> IceServer:
    """Time-limited TURN credentials in coturn's REST-API scheme (``use-auth-secret``)."""
    username = f"{int(time.time()) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return IceServer(urls=urls, username=username, credential=base64.b64encode(digest).decode())
