"""The shipped catalogue and the checks :func:`load_catalogue` makes on a catalogue file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from signaling.catalogue import Catalogue, load_catalogue
from signaling.errors import ConfigError, UnknownService
from signaling.messages import LANGUAGES, Language, LocalizedText

EXAMPLE_SERVICES = {
    "foreign-enterprise-establishment": "外資企業設立登記",
    "tax-registration": "稅務登記",
    "tax-filing": "申報納稅",
    "tax-payment-certificate": "納稅證明辦理",
    "social-insurance-fee": "社保費管理",
    "social-insurance-enquiry": "社保業務諮詢",
    "exit-entry-permit-enquiry": "往來港澳通行證諮詢",
    "vehicle-registration-enquiry": "車輛上牌諮詢",
    "property-holding-enquiry": "個人房產情況諮詢",
    "mortgage-registration": "不動產抵押登記",
    "business-licence-change": "營業執照變更登記",
    "individual-business-registration": "個體工商戶登記",
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def _texts(catalogue: Catalogue) -> list[LocalizedText]:
    texts: list[LocalizedText] = []
    for department in catalogue.departments:
        texts += [department.names, department.description]
    for service in catalogue.services:
        texts += [service.names, service.description]
        for material in service.materials:
            texts.append(material.names)
            if material.note is not None:
                texts.append(material.note)
    return texts


def test_shipped_catalogue_is_big_enough(catalogue: Catalogue) -> None:
    assert len(catalogue.departments) >= 8
    assert len(catalogue.services) >= 24
    for department in catalogue.departments:
        assert catalogue.services_of(department.id), department.id
    for service in catalogue.services:
        assert service.materials, service.id
        assert any(m.required for m in service.materials), service.id
    assert any(s.second_approval for s in catalogue.services)
    assert not all(s.second_approval for s in catalogue.services)


def test_every_text_is_in_three_languages(catalogue: Catalogue) -> None:
    for text in _texts(catalogue):
        for language in LANGUAGES:
            assert text.get(language).strip(), text


def test_traditional_is_not_a_copy_of_simplified(catalogue: Catalogue) -> None:
    names = [d.names for d in catalogue.departments] + [s.names for s in catalogue.services]
    differing = [n for n in names if n.zh_hant != n.zh_hans]
    assert len(differing) >= 0.8 * len(names)


def test_example_services_exist(catalogue: Catalogue) -> None:
    for service_id, zh_hant in EXAMPLE_SERVICES.items():
        assert catalogue.service(service_id).names.zh_hant == zh_hant


def test_services_of_a_department(catalogue: Catalogue) -> None:
    ids = {s.id for s in catalogue.services_of("taxation")}
    assert {"tax-registration", "tax-filing", "tax-payment-certificate"} <= ids
    assert catalogue.services_of("no-such-department") == []


def test_unknown_service_says_where_ids_are_listed(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownService) as caught:
        catalogue.service("tax-registraton")
    assert str(caught.value) == (
        "unknown service 'tax-registraton': valid ids are listed at GET /api/catalogue"
        " (services[].id)"
    )
    assert caught.value.code == "unknown_service"


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("稅務登記", "zh-Hant", "tax-registration"),
        ("税务登记", "zh-Hans", "tax-registration"),
        ("TAX REGISTRATION", "en", "tax-registration"),
        ("不動產抵押", "zh-Hant", "mortgage-registration"),
        ("mortgage", "en", "mortgage-registration"),
        ("车辆上牌", "zh-Hans", "vehicle-registration-enquiry"),
    ],
)
def test_search_in_each_language(
    catalogue: Catalogue, text: str, language: Language, expected: str
) -> None:
    found = [s.id for s in catalogue.search(text, language)]
    assert expected in found


def test_search_ranks_the_chosen_language_first(catalogue: Catalogue) -> None:
    # "證" is traditional only, so a zh-Hans search for it still finds services via zh-Hant
    found = catalogue.search("證", "zh-Hans")
    assert found
    assert all("證" in s.names.zh_hant for s in found)
    assert catalogue.search("  ", "en") == []
    assert catalogue.search("no such service", "en") == []


def test_model_dump_round_trips_with_aliases(catalogue: Catalogue) -> None:
    dumped = catalogue.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["services"][0]["names"].keys() == {"zh-Hant", "zh-Hans", "en"}
    assert Catalogue.model_validate(dumped) == catalogue


# ------------------------------------------------------------------ broken files


def _shipped() -> dict[str, Any]:
    data: dict[str, Any] = load_catalogue().model_dump(mode="json", by_alias=True)
    return data


def _missing_language(data: dict[str, Any]) -> None:
    del data["services"][2]["names"]["zh-Hant"]


def _unknown_department(data: dict[str, Any]) -> None:
    data["services"][0]["department_id"] = "ministry-of-magic"


def _duplicate_service(data: dict[str, Any]) -> None:
    data["services"][1]["id"] = data["services"][0]["id"]


def _duplicate_department(data: dict[str, Any]) -> None:
    data["departments"].append(dict(data["departments"][0]))


def _empty_department(data: dict[str, Any]) -> None:
    data["departments"].append({**data["departments"][0], "id": "lonely"})


def _bad_id(data: dict[str, Any]) -> None:
    data["services"][0]["id"] = "Tax Registration"


def _unknown_field(data: dict[str, Any]) -> None:
    data["services"][0]["price"] = 100


def _blank_name(data: dict[str, Any]) -> None:
    data["departments"][0]["names"]["en"] = " "


def _unknown_requirement(data: dict[str, Any]) -> None:
    data["services"][0]["skills"] = {"service": 1, "height": 2}


def _widening_that_asks_more(data: dict[str, Any]) -> None:
    data["services"][0]["widening"] = [
        {"after_s": 0, "levels": {"service": 3}},
        {"after_s": 30, "levels": {"service": 4}},
    ]


def _widening_out_of_order(data: dict[str, Any]) -> None:
    data["services"][0]["widening"] = [
        {"after_s": 60, "levels": {"service": 4}},
        {"after_s": 30, "levels": {"service": 2}},
    ]


def _duplicate_disposition(data: dict[str, Any]) -> None:
    taxation = next(d for d in data["departments"] if d["id"] == "taxation")
    taxation["disposition_codes"].append(taxation["disposition_codes"][0])


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (_unknown_requirement, "services.0.skills.height"),
        (
            _widening_that_asks_more,
            "service 'foreign-enterprise-establishment': widening step at 30.0 s asks more",
        ),
        (_widening_out_of_order, "increasing after_s from 0; 30.0 is not"),
        (_missing_language, "services.2.names.zh-Hant: Field required"),
        (_unknown_department, "names unknown department 'ministry-of-magic'"),
        (_duplicate_service, "duplicate service id(s) foreign-enterprise-establishment"),
        (_duplicate_department, "duplicate department id(s) market-regulation"),
        (_empty_department, "department 'lonely' has no services"),
        (_bad_id, "services.0.id: String should match pattern"),
        (_unknown_field, "services.0.price: Extra inputs are not permitted"),
        (_blank_name, "'market-regulation' has a blank name in en"),
        (
            _duplicate_disposition,
            "department 'taxation' has duplicate disposition code(s) resolved",
        ),
    ],
)
def test_broken_catalogue_names_the_problem(
    tmp_path: Path, breakage: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = _shipped()
    breakage(data)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_invalid_json_names_the_position(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text('{"departments": [],\n "services": [,]}', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    assert str(caught.value).startswith(f"catalogue {path} is not valid JSON: ")
    assert "line 2" in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    assert str(caught.value).startswith(f"cannot read catalogue {path}: ")


def test_a_department_without_disposition_codes_gets_the_default_ones() -> None:
    catalogue = load_catalogue()
    assert [c.id for c in catalogue.department("market-regulation").dispositions] == [
        "resolved", "needs-documents", "referred", "applicant-left", "other"
    ]  # fmt: skip
    taxation = catalogue.department("taxation").dispositions
    assert taxation[1].id == "return-filed" and taxation[1].names.en == "Tax return filed"
