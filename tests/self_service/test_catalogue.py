"""The catalogue's self-service services and the connectors they need."""

from __future__ import annotations

from pathlib import Path

import pytest

from signaling.app import create_app
from signaling.catalogue import load_catalogue
from signaling.errors import ConfigError
from signaling.keys import CATALOGUE
from signaling.messages import LANGUAGES
from tests.conftest import make_settings

CONNECTOR = {"url": "http://127.0.0.1:9", "key": "k.pem", "department_key": "d.pem"}


def test_at_least_four_self_service_services_named_in_three_languages() -> None:
    services = [s for s in load_catalogue().services if s.self_service is not None]
    assert len(services) >= 4
    assert len({s.department_id for s in services}) >= 3
    for service in services:
        for lang in LANGUAGES:
            assert service.names.get(lang).strip() and service.description.get(lang).strip()


def test_a_self_service_service_needs_its_departments_connector(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, department_connectors={"taxation": CONNECTOR})
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    message = refused.value.message
    assert "'social-insurance-certificate-print' is self-service but department" in message
    assert "set department_connectors.human-resources-social-security" in message
    assert "income-tax-record-print" not in message  # taxation has its connector


def test_no_connectors_no_self_service_services(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    offered = app[CATALOGUE].services
    assert offered and all(s.self_service is None for s in offered)
