"""The catalogue says which materials may follow; a due-date rule on one that may not is a
configuration error named at start-up."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from signaling.catalogue import load_catalogue
from signaling.errors import ConfigError


def test_the_shipped_catalogue_lets_only_non_essential_materials_follow() -> None:
    service = load_catalogue().service("tax-registration")
    follows = {m.id: m.follow_days for m in service.materials if m.may_follow}
    assert follows == {"premises-proof": 5, "bank-account": 5}


def test_follow_days_without_may_follow_is_refused(tmp_path: Path) -> None:
    shipped = resources.files("signaling") / "data" / "catalogue.json"
    data = json.loads(shipped.read_text(encoding="utf-8"))
    service = next(s for s in data["services"] if s["id"] == "tax-registration")
    licence = next(m for m in service["materials"] if m["id"] == "business-licence")
    licence["follow_days"] = 3
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_catalogue(path)
    assert (
        "service 'tax-registration': material 'business-licence' has follow_days but not"
        " may_follow; set may_follow true or drop follow_days"
    ) in str(refused.value)
