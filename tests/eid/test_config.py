"""A provider setting that cannot work stops the server at start-up with a sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from signaling.errors import ConfigError
from signaling.settings import load_settings


def provider(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    return {
        "id": "iamsmart", "name_zh_hant": "智方便", "name_zh_hans": "智方便", "name_en": "iAM Smart",
        "issuer": "https://id.example.gov", "client_id": "vcounter",
        "client_secret_file": str(secret), "strong_acr": ["urn:loa:high"], **changes,
    }  # fmt: skip


def refused(tmp_path: Path, providers: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir=tmp_path, eid_providers=providers)
    return caught.value.message


def test_a_sound_provider_is_taken_with_its_secret(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, eid_providers=[provider(tmp_path)])
    (p,) = settings.eid_providers
    assert p.client_secret == "s3cret" and p.name("zh-Hans") == "智方便"


def test_the_secret_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EID_SECRET", "from-env")
    config = provider(tmp_path, client_secret_file=None, client_secret_env="EID_SECRET")
    (p,) = load_settings(data_dir=tmp_path, eid_providers=[config]).eid_providers
    assert p.client_secret == "from-env"
    monkeypatch.delenv("EID_SECRET")
    assert "EID_SECRET holding the client secret is not set" in refused(tmp_path, [config])


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        (
            {"issuer": "http://id.example.gov"},
            "only a provider on this machine (loopback) may use http",
        ),
        ({"issuer": "id.example.gov"}, "is not a URL"),
        ({"client_secret_file": "/nonexistent/secret"}, "cannot be read"),
        ({"client_secret_env": "X"}, "exactly one of client_secret_file and client_secret_env"),
        ({"claims": {"name": "name"}}, "which claim gives document_number"),
        ({"algorithms": ["HS256"]}, "never none or an HMAC"),
        ({"algorithms": ["none"]}, "never none or an HMAC"),
        ({"strong_acr": []}, "set strong_acr or strong_amr"),
        ({"scopes": ["profile"]}, "scopes must include openid"),
    ],
)
def test_a_bad_provider_stops_start_up(
    tmp_path: Path, changes: dict[str, Any], sentence: str
) -> None:
    message = refused(tmp_path, [provider(tmp_path, **changes)])
    assert "eid_providers" in message and sentence in message, message


def test_two_providers_with_one_id_stop_start_up(tmp_path: Path) -> None:
    message = refused(tmp_path, [provider(tmp_path), provider(tmp_path)])
    assert "iamsmart is used twice" in message, message
