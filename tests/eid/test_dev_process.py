"""``./run demo``'s development e-ID provider: it starts, answers as the issuer it is
configured with, and the settings it yields are ones the server accepts."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from signaling.eid.dev_process import dev_provider_process
from signaling.settings import load_settings


async def test_the_demo_provider_starts_and_is_usable(tmp_path: Path) -> None:
    async with dev_provider_process(tmp_path, "http://127.0.0.1:8080/eid/callback") as provider:
        url = f"{provider.issuer}/.well-known/openid-configuration"
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            doc = await r.json()
        assert doc["issuer"] == provider.issuer
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert "urn:vcounter:loa:high" in doc["acr_values_supported"]
        settings = load_settings(data_dir=tmp_path, eid_providers=[provider.model_dump()])
        assert settings.eid_providers[0].client_secret == provider.client_secret
    assert (tmp_path / "eid-demo-client.secret").stat().st_mode & 0o777 == 0o600
