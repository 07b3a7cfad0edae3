"""Hole 8 (wire models): payloads are not coerced, and an SDP must be one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signaling.messages import (
    MAX_SDP,
    RateSession,
    RequestService,
    SessionDescription,
    SetAvailability,
)

SID = "0" * 32
GOOD_SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\na=rtpmap:96 VP8/90000\r\na=setup:actpass\r\n"
)


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        (RequestService, {"service_id": "tax-registration", "care_mode": "yes"}),
        (RequestService, {"service_id": "tax-registration", "care_mode": 1}),
        (SetAvailability, {"available": "true"}),
        (RateSession, {"session_id": SID, "rating": "5"}),
        (RateSession, {"session_id": SID, "rating": 4.0}),
        (RateSession, {"session_id": SID, "rating": True}),
    ],
)
def test_values_of_the_wrong_type_are_refused_not_coerced(
    model: type[RequestService], payload: dict[str, object]
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(payload)


def test_the_right_types_still_pass() -> None:
    assert RequestService.model_validate(
        {"service_id": "tax-registration", "care_mode": True}
    ).care_mode
    assert RateSession.model_validate({"session_id": SID, "rating": 5}).rating == 5
    assert SessionDescription.model_validate({"session_id": SID, "type": "offer", "sdp": GOOD_SDP})


@pytest.mark.parametrize(
    ("sdp", "why"),
    [
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n", "no media section"),
        (GOOD_SDP.replace("s=-", "s=\x00evil"), "printable"),
        (GOOD_SDP.replace("s=-\r\n", "s=-\r"), "printable"),  # a bare carriage return
        (GOOD_SDP + "a=x\x1b[31m\r\n", "printable"),
        (GOOD_SDP + "not an sdp line\r\n", "printable"),
        (GOOD_SDP + "a=" + "x" * MAX_SDP + "\r\n", "at most"),
    ],
)
def test_sdp_that_is_not_one_is_refused(sdp: str, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SessionDescription.model_validate({"session_id": SID, "type": "offer", "sdp": sdp})
    assert why in str(refused.value)
