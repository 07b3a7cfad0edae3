"""A service's fee: exact amounts, the three currencies, and a bad fee stopping start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signaling.catalogue import load_catalogue
from signaling.errors import ConfigError
from signaling.payments.fees import FeeError, format_amount, to_minor


@pytest.mark.parametrize(
    ("amount", "minor"), [("10.00", 1000), ("220", 22000), ("0.01", 1), ("80.5", 8050)]
)
def test_amounts_are_exact_minor_units(amount: str, minor: int) -> None:
    assert to_minor(amount) == minor


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("1.234", "more than two decimals"),
        ("0", "more than zero"),
        ("-5.00", "more than zero"),
        ("ten", "not a decimal number"),
        ("NaN", "more than zero"),
        ("99999999", "over the kiosk limit"),
    ],
)
def test_a_bad_amount_says_what_is_wrong(amount: str, says: str) -> None:
    with pytest.raises(FeeError) as caught:
        to_minor(amount)
    assert says in str(caught.value)


def test_money_is_shown_with_its_currency() -> None:
    assert format_amount(1000, "CNY") == "CNY 10.00"
    assert format_amount(22005, "MOP") == "MOP 220.05"


def test_the_shipped_catalogue_has_fees_in_each_way() -> None:
    fees = {s.id: s.fee for s in load_catalogue().services if s.fee is not None}
    assert {f.due for f in fees.values()} == {"before_submission", "on_approval"}
    assert fees["driving-licence-exchange"].minor == 1000  # type: ignore[union-attr]
    # the services the older tests use stay free
    assert "tax-registration" not in fees and "business-licence-change" not in fees


@pytest.mark.parametrize(
    ("fee", "says"),
    [
        ({"amount": "10.00", "currency": "USD", "due": "on_approval"}, "fee.currency"),
        ({"amount": "1.005", "currency": "HKD", "due": "on_approval"}, "more than two decimals"),
        ({"amount": "10.00", "currency": "HKD", "due": "later"}, "fee.due"),
        ({"amount": 10, "currency": "HKD", "due": "on_approval"}, "fee.amount"),
    ],
)
def test_a_bad_fee_stops_start_up_naming_the_service(
    tmp_path: Path, fee: dict[str, object], says: str
) -> None:
    data = json.loads(
        (Path(__file__).parents[2] / "signaling/data/catalogue.json").read_text(encoding="utf-8")
    )
    service = next(s for s in data["services"] if s["id"] == "tax-filing")
    service["fee"] = fee
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    assert "service 'tax-filing'" in str(caught.value) and says in str(caught.value)
