"""Wire messages validate themselves, and the console's copy of them is current."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signaling.messages import (
    CLERK_EVENTS,
    SERVER_EVENTS,
    TERMINAL_EVENTS,
    CallOffered,
    IceCandidate,
    RequestService,
    SessionDescription,
)
from signaling.schema import PROTOCOL_JS, render_protocol_js

SID = "0123456789abcdef0123456789abcdef"


def test_request_service_defaults_and_rejects_unknown_fields() -> None:
    assert RequestService(service_id="tax-registration").language == "zh-Hant"
    with pytest.raises(ValidationError, match="extra"):
        RequestService.model_validate({"service_id": "tax-registration", "priority": 1})
    with pytest.raises(ValidationError, match="language"):
        RequestService.model_validate({"service_id": "tax-registration", "language": "fr"})


@pytest.mark.parametrize(
    "sdp",
    ["", "hello", "x" * 70000, "v=1\r\n", None],
)
def test_malformed_sdp_is_refused(sdp: object) -> None:
    with pytest.raises(ValidationError):
        SessionDescription.model_validate({"session_id": SID, "type": "offer", "sdp": sdp})


def test_session_id_must_be_ours() -> None:
    with pytest.raises(ValidationError, match="session_id"):
        IceCandidate.model_validate({"session_id": "../../etc", "candidate": ""})


def test_round_trip_keeps_language_aliases() -> None:
    offer = CallOffered.model_validate(
        {
            "session_id": SID,
            "service_id": "tax-registration",
            "service_name": {
                "zh-Hant": "稅務登記",
                "zh-Hans": "税务登记",
                "en": "Tax registration",
            },
            "department_id": "tax",
            "language": "zh-Hans",
            "terminal_name": "k1",
            "waited_s": 1.5,
            "expires_in_s": 20,
        }
    )
    data = offer.model_dump(mode="json", by_alias=True)
    assert data["service_name"]["zh-Hant"] == "稅務登記"
    assert CallOffered.model_validate(data) == offer


def test_every_event_has_a_model() -> None:
    for table in (TERMINAL_EVENTS, CLERK_EVENTS, SERVER_EVENTS):
        for event, model in table.items():
            assert model.model_json_schema()["type"] == "object", event


def test_console_protocol_module_is_up_to_date() -> None:
    assert PROTOCOL_JS.read_text(encoding="utf-8") == render_protocol_js(), (
        "agent_console/static/protocol.js is stale: run `python -m signaling.schema`"
    )
