"""The identity-provider interface and its OpenID Connect implementation.

:class:`IdentityProvider` is what the routes need: where to send the phone
(:meth:`~IdentityProvider.authorization_url`) and, given the code the provider sent back,
who signed in (:meth:`~IdentityProvider.finish`). :class:`OidcProvider` does that with the
authorization code flow, PKCE (S256), ``state`` and ``nonce``, a confidential client
(``client_secret_basic``), and checks the ID token with PyJWT against the provider's JWKS:
issuer, audience (and ``azp``), signature with only the configured algorithms, ``exp`` and
``iat`` with a small leeway, the ``nonce``, and ``at_hash`` when the token carries one.
Claims missing from the ID token are taken from the userinfo endpoint (same ``sub``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import aiohttp
import jwt

from signaling.eid.config import EidProviderSettings
from signaling.eid.errors import ProviderDenied, ProviderUnavailable, TokenRefused

log = logging.getLogger(__name__)

# discovery documents and keys are kept this long before they are fetched again
CACHE_S = 3600.0
MAX_RESPONSE_BYTES = 256 * 1024
# which hash at_hash uses for each signing algorithm (OpenID Connect Core 3.1.3.6)
_AT_HASH = {"RS256": "sha256", "PS256": "sha256", "ES256": "sha256", "EdDSA": "sha512"}


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE ``(code_verifier, code_challenge)`` with S256 (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, challenge_of(verifier)


def challenge_of(verifier: str) -> str:
    """The S256 ``code_challenge`` of a PKCE ``code_verifier``."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who signed in, as the provider's checked ID token (and userinfo) say."""

    provider: str
    issuer: str
    subject: str
    claims: dict[str, Any]
    acr: str | None
    amr: list[str]
    auth_time: int | None


class IdentityProvider(Protocol):
    """An identity provider the applicant signs in with on their phone."""

    settings: EidProviderSettings

    async def check(self) -> None:
        """Reach the provider now; raises :class:`ProviderUnavailable` (or a refusal) if
        it cannot be used."""

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, code_challenge: str, language: str
    ) -> str:
        """Where the phone goes to sign in."""

    async def finish(
        self, code: str, redirect_uri: str, verifier: str, nonce: str
    ) -> VerifiedIdentity:
        """Exchange ``code`` and check what comes back; raises a refusal with a sentence."""


@dataclass
class _Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    fetched_at: float


@dataclass
class _Keys:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = 0.0


class OidcProvider:
    """One configured OpenID Connect provider; ``http`` is the server's client session."""

    def __init__(self, settings: EidProviderSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._discovery: _Discovery | None = None
        self._keys = _Keys()

    @property
    def _where(self) -> str:
        return f"the e-ID provider {self.settings.id} ({self.settings.issuer})"

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            async with self.http.get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
            ) as r:
                body = await r.content.read(MAX_RESPONSE_BYTES + 1)
                if r.status != 200 or len(body) > MAX_RESPONSE_BYTES:
                    raise ProviderUnavailable(
                        f"{self._where} answered {r.status} at {url}; try again later or ask"
                        " the clerk to check the card instead"
                    )
                data = json.loads(body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(
                f"{self._where} could not be reached at {url} ({type(exc).__name__}); try again"
                " later or ask the clerk to check the card instead"
            ) from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{self._where} sent something that is not JSON at {url}")
        return data

    async def check(self) -> None:
        """Fetch (or reuse) the discovery document."""
        await self.discovery()

    async def discovery(self) -> _Discovery:
        """The provider's discovery document, fetched once an hour; its issuer must be ours."""
        found = self._discovery
        if found is not None and time.monotonic() - found.fetched_at < CACHE_S:
            return found
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await self._get_json(url)
        if doc.get("issuer") != self.settings.issuer:
            raise TokenRefused(
                f"{self._where} calls itself {doc.get('issuer')!r} in its discovery document;"
                " the configured issuer must be exactly the provider's (check eid_providers)",
                "eid_bad_issuer",
            )
        try:
            found = _Discovery(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                userinfo_endpoint=doc.get("userinfo_endpoint"),
                fetched_at=time.monotonic(),
            )
        except KeyError as exc:
            raise ProviderUnavailable(
                f"{self._where}'s discovery document lacks {exc.args[0]}"
            ) from exc
        self._discovery = found
        return found

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, code_challenge: str, language: str
    ) -> str:
        """The authorize endpoint with this attempt's parameters."""
        found = await self.discovery()
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "ui_locales": {"zh-Hant": "zh-HK zh-TW", "zh-Hans": "zh-CN"}.get(language, "en"),
        }
        if self.settings.acr_values:
            params["acr_values"] = self.settings.acr_values
        sep = "&" if "?" in found.authorization_endpoint else "?"
        return f"{found.authorization_endpoint}{sep}{urlencode(params, quote_via=quote)}"

    async def finish(
        self, code: str, redirect_uri: str, verifier: str, nonce: str
    ) -> VerifiedIdentity:
        """Exchange ``code`` (with the PKCE verifier) and check the ID token."""
        found = await self.discovery()
        tokens = await self._exchange(found, code, redirect_uri, verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise TokenRefused(f"{self._where} sent no ID token", "eid_bad_token")
        claims = await self._check(found, id_token, nonce)
        access = tokens.get("access_token")
        if isinstance(access, str) and "at_hash" in claims:
            self._check_at_hash(claims, access, jwt.get_unverified_header(id_token)["alg"])
        wanted = set(self.settings.claims.values())
        if not wanted <= claims.keys() and found.userinfo_endpoint and isinstance(access, str):
            claims = {**await self._userinfo(found.userinfo_endpoint, access, claims), **claims}
        amr = claims.get("amr")
        auth_time = claims.get("auth_time")
        return VerifiedIdentity(
            provider=self.settings.id,
            issuer=found.issuer,
            subject=str(claims["sub"]),
            claims=claims,
            acr=str(claims["acr"]) if isinstance(claims.get("acr"), str) else None,
            amr=[str(a) for a in amr] if isinstance(amr, list) else [],
            auth_time=auth_time if isinstance(auth_time, int) else None,
        )

    async def _exchange(
        self, found: _Discovery, code: str, redirect_uri: str, verifier: str
    ) -> dict[str, Any]:
        s = self.settings
        # client_secret_basic: both parts form-encoded first (RFC 6749 section 2.3.1)
        basic = base64.b64encode(
            f"{quote(s.client_id, safe='')}:{quote(s.client_secret, safe='')}".encode()
        ).decode("ascii")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        try:
            async with self.http.post(
                found.token_endpoint,
                data=form,
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=s.timeout_s),
            ) as r:
                body = await r.content.read(MAX_RESPONSE_BYTES + 1)
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(
                f"{self._where}'s token endpoint could not be reached ({type(exc).__name__});"
                " start the sign-in again at the kiosk"
            ) from exc
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderUnavailable(
                f"{self._where}'s token endpoint answered {status} without JSON"
            )
        if status != 200:
            error = str(data.get("error", "unknown"))[:60]
            raise ProviderDenied(
                f"{self._where} would not exchange the sign-in code ({error}:"
                f" {str(data.get('error_description', ''))[:200]}); start again at the kiosk",
                "eid_code_refused",
            )
        return data

    async def _key(self, found: _Discovery, kid: str | None) -> jwt.PyJWK:
        for fresh in (False, True):
            stale = time.monotonic() - self._keys.fetched_at >= CACHE_S
            if fresh or stale or not self._keys.keys:
                # an unknown kid may be a key the provider has just rotated in: fetch once more
                doc = await self._get_json(found.jwks_uri)
                try:
                    keyset = jwt.PyJWKSet.from_dict(doc)
                except jwt.PyJWKSetError as exc:
                    raise ProviderUnavailable(f"{self._where} publishes no usable keys") from exc
                self._keys = _Keys(
                    {str(k.key_id or i): k for i, k in enumerate(keyset.keys)}, time.monotonic()
                )
            candidates = [
                k for key_id, k in self._keys.keys.items() if kid is None or key_id == kid
            ]
            if candidates:
                return candidates[0]
        raise TokenRefused(
            f"the ID token was signed with a key {self._where} does not publish (kid {kid!r});"
            " it did not come from the provider",
            "eid_bad_signature",
        )

    async def _check(self, found: _Discovery, token: str, nonce: str) -> dict[str, Any]:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(f"the ID token is not a JWT ({exc})", "eid_bad_token") from exc
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise TokenRefused(
                f"the ID token is signed with {alg!r}, which {self._where} is not allowed to use"
                f" (allowed: {', '.join(s.algorithms)})",
                "eid_bad_signature",
            )
        key = await self._key(found, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[str(alg)],
                audience=s.client_id,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.InvalidSignatureError as exc:
            raise TokenRefused(
                f"the ID token's signature does not verify with {self._where}'s published keys;"
                " it did not come from the provider",
                "eid_bad_signature",
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRefused(
                f"the ID token was issued by {jwt.decode(token, options={'verify_signature': False}).get('iss')!r},"
                f" not by {s.issuer!r}",
                "eid_bad_issuer",
            ) from exc
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused(
                "the ID token has expired (the provider's clock or ours is wrong, or the answer"
                " was held back); start the sign-in again at the kiosk",
                "eid_expired_token",
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRefused(
                "the ID token was issued in the future (a clock is wrong); start again",
                "eid_expired_token",
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRefused(
                f"the ID token was issued to another client, not to {s.client_id!r}",
                "eid_bad_audience",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(f"the ID token is not acceptable ({exc})", "eid_bad_token") from exc
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != s.client_id:
            raise TokenRefused(
                f"the ID token names several audiences but not {s.client_id!r} as its azp",
                "eid_bad_audience",
            )
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
            raise TokenRefused(
                "the ID token belongs to another sign-in (its nonce is not this attempt's):"
                " a replayed or swapped answer; start again at the kiosk",
                "eid_bad_nonce",
            )
        return claims

    def _check_at_hash(self, claims: dict[str, Any], access_token: str, alg: str) -> None:
        digest = hashlib.new(_AT_HASH.get(alg, "sha256"), access_token.encode("ascii")).digest()
        if not hmac.compare_digest(_b64(digest[: len(digest) // 2]), str(claims["at_hash"])):
            raise TokenRefused(
                "the ID token's at_hash does not match the access token sent with it",
                "eid_bad_at_hash",
            )

    async def _userinfo(
        self, url: str, access_token: str, claims: dict[str, Any]
    ) -> dict[str, Any]:
        info = await self._get_json(url, {"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != claims["sub"]:
            raise TokenRefused(
                "the provider's userinfo names another person than its ID token",
                "eid_bad_token",
            )
        return info
