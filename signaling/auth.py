"""Clerk access tokens (signed JWT, expiring, revocable) and TURN credentials.

A token carries the clerk's ``token_version``; disabling the account or resetting its
password bumps the stored version, so :func:`authorize_clerk` refuses every older token at
its next use. :func:`check_token` alone checks only the signature and expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt
from sqlalchemy import select

from signaling.errors import AuthError, SignInExpired
from signaling.messages import IceServer
from storage.db import Database
from storage.models import Clerk

_ALGORITHM = "HS256"
_AUDIENCE = "vcounter-console"


@dataclass(frozen=True)
class ClerkClaims:
    clerk_id: int
    username: str
    role: str
    version: int = 0


def issue_token(
    key: str, clerk_id: int, username: str, role: str, ttl_s: int, version: int = 0
) -> str:
    """A signed token a clerk presents when connecting; valid for ``ttl_s`` seconds and
    until the account's token version moves past ``version``."""
    now = int(time.time())
    claims = {
        "sub": str(clerk_id),
        "name": username,
        "role": role,
        "ver": version,
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
        raise SignInExpired("your session has expired; sign in again") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("the access token is not valid; sign in again") from exc
    try:
        return ClerkClaims(
            int(claims["sub"]), str(claims["name"]), str(claims["role"]), int(claims.get("ver", 0))
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AuthError("the access token is not valid; sign in again") from exc


async def authorize_clerk(db: Database, key: str, token: object) -> ClerkClaims:
    """Check a clerk token *and* that it is not revoked; call it on every use of a token
    (each REST request, each socket connect). Raises :class:`AuthError` that says why.

    The role returned is the stored one, so a changed role applies at once.
    """
    claims = check_token(key, token)
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(Clerk.disabled, Clerk.token_version, Clerk.role).where(
                    Clerk.id == claims.clerk_id
                )
            )
        ).first()
    if row is None:
        raise AuthError("this account no longer exists; ask an administrator")
    if row.disabled:
        raise AuthError("this account is disabled; ask an administrator")
    if row.token_version != claims.version:
        raise AuthError(
            "this sign-in was revoked (password reset or account change); sign in again"
        )
    return ClerkClaims(claims.clerk_id, claims.username, row.role, claims.version)


def turn_credentials(urls: list[str], secret: str, user: str, ttl_s: int) -> IceServer:
    """Time-limited TURN credentials in coturn's REST-API scheme (``use-auth-secret``)."""
    username = f"{int(time.time()) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return IceServer(urls=urls, username=username, credential=base64.b64encode(digest).decode())
