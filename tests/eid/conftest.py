"""A real OpenID provider on loopback (npm ``oidc-provider`` through
``signaling/eid/dev_provider.mjs``), a loopback proxy in front of it that can play the
attacker, and the server configured to use it.

The proxy's address is the provider's issuer, so every request the server and the phone send
to "the provider" passes it. By default it forwards to the real provider; a test may make it
forward to an impostor (another real provider process with other keys, another issuer, or a
shifted clock), strip the ``iss`` of the answer, or answer a token request with an earlier
token response (a replay). Nothing here writes a token by hand.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from signaling.eid.config import EidProviderSettings
from tests.conftest import RunningServer
from tests.teardown import bounded

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "signaling" / "eid" / "dev_provider.mjs"
CLIENT_ID = "vcounter-kiosk"
CLIENT_SECRET = "test-client-secret-0123456789"
STRONG_ACR = "urn:vcounter:loa:high"
PROVIDER_ID = "iamsmart"
ACCOUNTS = [
    {
        "login": "chan.taiman", "password": "pw-strong", "acr": STRONG_ACR, "amr": ["face", "hwk"],
        "claims": {"name": "陳大文", "name_en": "CHAN TAI MAN", "document_number": "A1234563",
                   "document_type": "HKIC", "birthdate": "1980-01-01"},
    },
    {
        "login": "wong.siuming", "password": "pw-weak", "acr": "urn:vcounter:loa:substantial",
        "amr": ["pwd"],
        "claims": {"name": "黃小明", "name_en": "WONG SIU MING", "document_number": "Z7654321",
                   "document_type": "HKIC", "birthdate": "1975-06-30"},
    },
]  # fmt: skip
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
              "content-encoding"}  # fmt: skip


def write_keys(path: Path, kid: str = "k1") -> Path:
    """A JSON Web Key Set with one fresh RSA private key named ``kid``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    path.write_text(json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}))
    return path


@dataclass
class ProviderProcess:
    """One ``dev_provider.mjs`` process."""

    process: asyncio.subprocess.Process
    port: int

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def start_provider(
    issuer: str,
    redirect_uri: str,
    keys: Path,
    accounts: Path,
    log: Path,
    clock_offset_s: int = 0,
) -> ProviderProcess:
    """Start the provider on a free loopback port; returns once it listens."""
    process = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), "--issuer", issuer, "--client-id", CLIENT_ID,
        "--client-secret", CLIENT_SECRET, "--redirect-uri", redirect_uri, "--port", "0",
        "--keys", str(keys), "--accounts", str(accounts),
        f"--clock-offset-s={clock_offset_s}", "--id-token-ttl-s=60",
        stdout=asyncio.subprocess.PIPE, stderr=log.open("ab"),
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            line = await process.stdout.readline()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the OpenID provider did not start; see {log}") from None
    if not line:
        await process.wait()
        raise AssertionError(f"the OpenID provider exited; see {log}")
    return ProviderProcess(process, int(json.loads(line)["port"]))


@dataclass
class Proxy:
    """The loopback proxy whose address is the provider's issuer (see the module's text)."""

    url: str = ""
    upstream: int = 0
    # every request but the keys goes to this port instead (an impostor provider)
    impostor: int | None = None
    strip_iss: bool = False
    replay_token: bool = False
    _token_answer: tuple[int, bytes, str] | None = None
    http: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        port = self.upstream
        if self.impostor is not None and request.path != "/jwks":
            port = self.impostor
        if self.replay_token and request.path == "/token" and self._token_answer is not None:
            status, body, ctype = self._token_answer
            return web.Response(status=status, body=body, content_type=ctype)
        assert self.http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = request.host
        async with self.http.request(
            request.method, f"http://127.0.0.1:{port}{request.path_qs}", headers=headers,
            data=await request.read(), allow_redirects=False,
        ) as r:  # fmt: skip
            body = await r.read()
            out = web.Response(status=r.status, body=body)
            for name, value in r.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    out.headers.add(name, value)
            if self.strip_iss and "Location" in out.headers:
                out.headers["Location"] = _without_iss(out.headers["Location"])
            if request.path == "/token" and r.status == 200 and self._token_answer is None:
                self._token_answer = (r.status, body, r.content_type)
        return out


def _without_iss(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "iss"]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Oidc:
    """The provider, its proxy and files, and what it takes to start more of it."""

    proxy: Proxy
    folder: Path
    keys: Path
    accounts: Path
    secret_file: Path
    processes: list[ProviderProcess] = field(default_factory=list)
    redirect_uri: str = ""

    @property
    def issuer(self) -> str:
        return self.proxy.url

    async def start(
        self, issuer: str | None = None, keys: Path | None = None, clock_offset_s: int = 0
    ) -> ProviderProcess:
        """Another provider process (the impostor); the first one is the real provider."""
        started = await start_provider(
            issuer or self.issuer, self.redirect_uri, keys or self.keys, self.accounts,
            self.folder / "provider.log", clock_offset_s,
        )  # fmt: skip
        self.processes.append(started)
        return started

    def settings(self, **changes: Any) -> EidProviderSettings:
        values: dict[str, Any] = {
            "id": PROVIDER_ID, "name_zh_hant": "智方便", "name_zh_hans": "智方便",
            "name_en": "iAM Smart", "issuer": self.issuer, "client_id": CLIENT_ID,
            "client_secret_file": self.secret_file, "scopes": ["openid", "profile", "eid"],
            "strong_acr": [STRONG_ACR], **changes,
        }  # fmt: skip
        return EidProviderSettings(**values)


@pytest.fixture
async def oidc_proxy(tmp_path: Path) -> AsyncIterator[Oidc]:
    """The proxy (its address is the issuer) and the provider's files; no provider yet."""
    folder = tmp_path / "oidc"
    folder.mkdir()
    secret = folder / "client-secret"
    secret.write_text(CLIENT_SECRET)
    accounts = folder / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS))
    proxy = Proxy()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    proxy.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    oidc = Oidc(proxy, folder, write_keys(folder / "keys.json"), accounts, secret)
    async with aiohttp.ClientSession() as http:
        proxy.http = http
        try:
            yield oidc
        finally:
            for p in oidc.processes:
                await bounded(p.stop(), "OpenID provider")
            await bounded(runner.cleanup(), "OpenID proxy")


@pytest.fixture
def server_extra(oidc_proxy: Oidc) -> dict[str, object]:
    return {"eid_providers": [oidc_proxy.settings()]}


@pytest.fixture
async def oidc(oidc_proxy: Oidc, server: RunningServer) -> Oidc:
    """The real provider running behind the proxy, its client's redirect URI the server's."""
    oidc_proxy.redirect_uri = f"{server.url}/eid/callback"
    oidc_proxy.proxy.upstream = (await oidc_proxy.start()).port
    return oidc_proxy


@dataclass
class PhoneResult:
    """Where the provider sent the phone back (the callback URL) and what the page said."""

    callback: str
    status: int
    html: str

    @property
    def outcome(self) -> str:
        found = re.search(r'data-outcome="(\w+)" data-code="([\w-]+)"', self.html)
        assert found, self.html
        return f"{found.group(1)}:{found.group(2)}"


class Phone:
    """The applicant's phone as plain HTTP (cookies kept): follows the QR code's link,
    fills in the provider's sign-in form, and is sent back to the server."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.http.close()

    async def _follow(self, url: str) -> tuple[str, int, str]:
        """GET ``url`` and its redirects until a page, or the server's callback (not opened)."""
        for _ in range(10):
            if url.startswith(f"{self.server.url}/eid/callback"):
                return url, 0, ""
            async with self.http.get(url, allow_redirects=False) as r:
                if r.status in (302, 303):
                    url = str(r.url.join(URL(r.headers["Location"])))
                    continue
                return url, r.status, await r.text()
        raise AssertionError(f"too many redirects, at {url}")

    async def sign_in(
        self, link: str, login: str = "chan.taiman", password: str = "pw-strong", deny: bool = False
    ) -> str:
        """Open the QR code's ``link`` and sign in (or deny); returns the callback URL the
        provider sent the phone to (not opened yet). Each time a fresh phone: no session
        left at the provider from an earlier sign-in."""
        self.http.cookie_jar.clear()
        url, status, html = await self._follow(link)
        assert status == 200, (url, status, html)
        action = "abort" if deny else "login"
        match = re.search(rf'action="(/interaction/[^"]+/{action})"', html)
        assert match, html
        target = str(URL(url).join(URL(match.group(1))))
        form = {} if deny else {"login": login, "password": password}
        async with self.http.post(target, data=form, allow_redirects=False) as r:
            assert r.status in (302, 303), (r.status, await r.text())
            nxt = str(r.url.join(URL(r.headers["Location"])))
        callback, status, html = await self._follow(nxt)
        assert status == 0, (callback, status, html)
        return callback

    async def open(self, url: str) -> PhoneResult:
        """Open ``url`` (the callback, or a link) as the phone and return the page."""
        async with self.http.get(url, allow_redirects=False) as r:
            return PhoneResult(url, r.status, await r.text())


@pytest.fixture
async def phone(server: RunningServer) -> AsyncIterator[Phone]:
    p = Phone(server)
    try:
        yield p
    finally:
        await p.close()
