"""The catalogue runs both ways: Hong Kong and Macau departments serve mainland residents,
each department says its side of the border and its clock, and a file that gets either
wrong is refused at start-up with a sentence naming the entry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from signaling.catalogue import load_catalogue
from signaling.errors import ConfigError
from signaling.jurisdictions import city_zone
from signaling.messages import LANGUAGES

CJK = re.compile(r"[\u4e00-\u9fff]")
SHIPPED = Path(__file__).resolve().parents[2] / "signaling" / "data" / "catalogue.json"


def test_hong_kong_and_macau_departments_serve_mainland_residents() -> None:
    catalogue = load_catalogue()
    two_way = catalogue.serving(("mainland-to-hk", "mainland-to-mo"))
    departments = {d.id: d for d in two_way.departments}
    assert len(two_way.services) >= 8 and len(departments) >= 4
    assert {d.jurisdiction for d in departments.values()} == {"hong-kong", "macau"}
    for department in departments.values():
        assert (
            department.zone
            == {"hong-kong": "Asia/Hong_Kong", "macau": "Asia/Macau"}[department.jurisdiction]
        )
    for service in two_way.services:
        texts = [service.names, service.description]
        texts += [m.names for m in service.materials]
        assert service.materials and any(m.required for m in service.materials), service.id
        for text in texts:
            values = [text.get(lang) for lang in LANGUAGES]
            # three real texts: Chinese in both scripts, and English that is not Chinese
            assert all(v.strip() for v in values), service.id
            assert CJK.search(values[0]) and CJK.search(values[1]), (service.id, values)
            assert not CJK.search(values[2]), (service.id, values)
    # each way shows only its own side's departments
    mainland = catalogue.serving(("hk-to-mainland",))
    assert {d.jurisdiction for d in mainland.departments} == {"mainland"}
    assert set(departments).isdisjoint(d.id for d in mainland.departments)
    only_macau = catalogue.serving(("mainland-to-mo",))
    assert {d.jurisdiction for d in only_macau.departments} == {"macau"}
    assert only_macau.services and all(
        catalogue.directions_of(s) == ("mainland-to-mo",) for s in only_macau.services
    )


def test_the_cities_clocks() -> None:
    assert city_zone("hong-kong") == "Asia/Hong_Kong"
    assert city_zone("macau") == "Asia/Macau"
    assert city_zone("shenzhen") == "Asia/Shanghai"


def _edited(tmp_path: Path, edit: Any) -> Path:
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _department(data: dict[str, Any], department_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in data["departments"] if d["id"] == department_id)
    return found


def _service(data: dict[str, Any], service_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in data["services"] if s["id"] == service_id)
    return found


def test_a_time_zone_that_is_not_iana_is_refused(tmp_path: Path) -> None:
    path = _edited(
        tmp_path, lambda d: _department(d, "hk-transport").update(time_zone="Hong Kong Time")
    )
    with pytest.raises(ConfigError) as refused:
        load_catalogue(path)
    assert (
        "department 'hk-transport' has time_zone 'Hong Kong Time', which is not an IANA time"
        " zone (e.g. Asia/Hong_Kong" in refused.value.message
    )


def test_a_service_running_the_wrong_way_is_refused(tmp_path: Path) -> None:
    path = _edited(
        tmp_path,
        lambda d: _service(d, "hk-company-search").update(directions=["mainland-to-mo"]),
    )
    with pytest.raises(ConfigError) as refused:
        load_catalogue(path)
    assert (
        "service 'hk-company-search' names direction(s) mainland-to-mo, but its department"
        " 'hk-companies-registry' is a hong-kong department, whose services run mainland-to-hk"
        in refused.value.message
    )


def test_an_unknown_jurisdiction_or_direction_is_named(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        _department(data, "mo-identification")["jurisdiction"] = "taiwan"
        _service(data, "mo-professional-tax")["directions"] = ["mo-to-hk"]

    with pytest.raises(ConfigError) as refused:
        load_catalogue(_edited(tmp_path, edit))
    message = refused.value.message
    assert "departments." in message and "jurisdiction" in message and "'mainland'" in message
    assert "service 'mo-professional-tax' at services." in message and "directions.0" in message


def test_a_narrower_explicit_direction_is_kept(tmp_path: Path) -> None:
    # a mainland service for Macau residents only: allowed, and shown only that way
    path = _edited(
        tmp_path, lambda d: _service(d, "tax-registration").update(directions=["mo-to-mainland"])
    )
    catalogue = load_catalogue(path)
    assert "tax-registration" in {s.id for s in catalogue.serving(("mo-to-mainland",)).services}
    assert "tax-registration" not in {s.id for s in catalogue.serving(("hk-to-mainland",)).services}
