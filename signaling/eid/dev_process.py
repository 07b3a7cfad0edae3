"""The development e-ID provider as its own process, for ``./run demo`` (tests start their own,
behind a proxy: tests/eid/conftest.py).

It is ``dev_provider.mjs`` (npm ``oidc-provider``) with one client whose redirect URI is the
server's callback, and the demo accounts ``chan.taiman`` (strong: as good as a card and face
check) and ``wong.siuming`` (weaker: the clerk confirms), both with the password ``demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from signaling.eid.config import EidProviderSettings
from signaling.eid.errors import EidConfigError

SCRIPT = Path(__file__).resolve().parent / "dev_provider.mjs"
CLIENT_ID = "vcounter-demo"
STRONG_ACR = "urn:vcounter:loa:high"


def _client_secret(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    secret_file = data_dir / "eid-demo-client.secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    return secret_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def dev_provider_process(
    data_dir: Path, redirect_uri: str, port: int = 0
) -> AsyncIterator[EidProviderSettings]:
    """Run the development provider; yields the settings that point the server at it."""
    node = shutil.which("node")
    if node is None:
        raise EidConfigError(
            "node is not installed, so the development e-ID provider cannot run; install"
            " nodejs (./run does) or configure eid_providers"
        )
    secret_file = _client_secret(data_dir)
    secret = secret_file.read_text().strip()
    # the issuer names the port, so the port is chosen first
    port = port or _free_port()
    issuer = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), "--issuer", issuer, "--client-id", CLIENT_ID,
        "--client-secret", secret, "--redirect-uri", redirect_uri, "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = await process.stdout.readline()
        if not line or json.loads(line).get("issuer") != issuer:
            raise EidConfigError(
                "the development e-ID provider did not start; run `cd agent_console && npm ci`"
            )
        yield EidProviderSettings(
            id="iamsmart", name_zh_hant="智方便", name_zh_hans="智方便", name_en="iAM Smart",
            issuer=issuer, client_id=CLIENT_ID, client_secret_file=secret_file,
            scopes=["openid", "profile", "eid"], strong_acr=[STRONG_ACR],
            jurisdictions=["hong-kong"],  # a Hong Kong e-ID: not offered at mainland kiosks
        )  # fmt: skip
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
