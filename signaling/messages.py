"""The wire contract: every socket.io payload and REST body, defined once.

The server, the aiortc terminal and (through the generated ``agent_console/static/protocol.js``)
the clerk console all use these models. Event names live in :data:`TERMINAL_EVENTS`,
:data:`CLERK_EVENTS` (client -> server) and :data:`SERVER_EVENTS` (server -> client).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

Language = Literal["zh-Hant", "zh-Hans", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-Hant", "zh-Hans", "en")

SessionId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
ServiceId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")]
MAX_SDP = 48 * 1024  # under the socket's 64 KiB frame limit; browsers' offers are ~5-15 KB
_SDP_LINE = re.compile(r"[a-z]=[\x20-\x7e\x80-\U0010ffff]*")


def _check_sdp(sdp: str) -> str:
    """An SDP the other side can take: ``v=0`` first, ``type=value`` lines with no control
    characters, at least one media section (``m=``)."""
    lines = sdp.split("\r\n") if "\r\n" in sdp else sdp.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise ValueError("an SDP starts with the line v=0")
    for number, line in enumerate(lines, start=1):
        if not _SDP_LINE.fullmatch(line):
            raise ValueError(
                f"SDP line {number} is not 'x=value' of printable characters (control"
                " characters and bare carriage returns are not allowed)"
            )
    if not any(line.startswith("m=") for line in lines):
        raise ValueError("the SDP has no media section (m= line)")
    return sdp


Sdp = Annotated[
    str,
    StringConstraints(min_length=10, max_length=MAX_SDP, pattern=r"^v=0\r?\n"),
    AfterValidator(_check_sdp),
]


class Message(BaseModel):
    """Base of every payload: unknown fields are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(Message):
    zh_hant: str = Field(alias="zh-Hant")
    zh_hans: str = Field(alias="zh-Hans")
    en: str

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def get(self, language: Language) -> str:
        """The text in ``language``."""
        return {"zh-Hant": self.zh_hant, "zh-Hans": self.zh_hans, "en": self.en}[language]


class SessionState(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTING = "connecting"
    IN_CALL = "in_call"
    ENDED = "ended"
    CANCELLED = "cancelled"
    FAILED = "failed"
    # a session without a clerk (signaling/self_service): never queued
    SELF_SERVICE = "self_service"


class ClerkState(StrEnum):
    OFFLINE = "offline"
    AWAY = "away"
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    # after a call, until its disposition is filed: never rung
    WRAP_UP = "wrap_up"
    # asked about another clerk's call (a warm transfer); never rung meanwhile
    CONSULTING = "consulting"


class Role(StrEnum):
    TERMINAL = "terminal"
    CLERK = "clerk"
    SUPERVISOR = "supervisor"  # only on the /supervisor namespace (signaling/monitor.py)
    SERVER = "server"


# "relay": media only through the TURN servers among the ICE servers (halls whose direct path
# is blocked, or whose kiosks must not show the clerk their own addresses)
IcePolicy = Literal["all", "relay"]


class IceServer(Message):
    urls: list[str] = Field(min_length=1)
    username: str | None = None
    credential: str | None = None


# ---------------------------------------------------------------- REST bodies


class LoginRequest(Message):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(Message):
    token: str
    expires_in_s: StrictInt
    display_name: str
    departments: list[str]
    # "clerk" or "supervisor": which console the person signing in belongs in
    role: str = "clerk"


class HealthResponse(Message):
    status: Literal["ok"]
    version: str


class SegmentMeta(Message):
    """A recording segment as uploaded (header ``X-Segment``) and kept in the session's chain.

    Times are milliseconds since ``t0``, the call's recording clock origin (epoch seconds).
    """

    side: Literal["applicant", "clerk", "document"]
    index: StrictInt = Field(ge=0, le=100_000)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    start_ms: StrictInt = Field(ge=0)
    end_ms: StrictInt = Field(ge=0)
    video_frames: StrictInt = Field(ge=0)
    audio_ms: StrictInt = Field(ge=0)
    t0: StrictFloat = Field(gt=0)


# ---------------------------------------------------------------- terminal -> server


class RequestService(Message):
    """The applicant picked a service and asks for a clerk."""

    service_id: ServiceId
    language: Language = "zh-Hant"
    # 关爱模式: larger type, spoken prompts; the call gets queue priority and the clerk is told
    care_mode: StrictBool = False
    # The kiosk's WebRTC offer, made before the applicant asked (a warm peer connection);
    # held by the server and handed to the clerk who accepts.
    offer: Sdp | None = None
    # "Call again" after an interrupted call (server, clerk or network gone): the session that
    # was lost; the router puts the new call at the front of the queue.
    recall_of: SessionId | None = None
    # an appointment checked in at this kiosk (signaling/appointment_desk.py): its number
    appointment: Annotated[str, StringConstraints(pattern=r"^AP\d{10}[0-9X]$")] | None = None
    # "Ask a clerk" after a self-service service failed or was refused: its session, whose
    # verified identity the call keeps (signaling/self_service)
    handover_of: SessionId | None = None


class KioskDevices(Message):
    """``/api/sessions/{id}/kiosk-devices``: what the session's kiosk has, so the clerk is
    told what it lacks instead of asking it for a capture or an ID read that never comes."""

    document_camera: bool = False
    scanner: bool = False
    id_reader: bool = False


class KioskDevicesReported(KioskDevices):
    """Server -> the session's clerk: the kiosk said what it has. It may say so after the
    call opened (a slow kiosk), so the console redraws what it offers when this comes."""

    session_id: SessionId


class RateSession(Message):
    """The applicant's 1-5 rating of an ended call, with an optional comment; once per call."""

    session_id: SessionId
    rating: StrictInt = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


class SessionRef(Message):
    """Names the session an action is about (cancel, accept, decline)."""

    session_id: SessionId


# ---------------------------------------------------------------- both ways, relayed


# Which peer connection of a call a message belongs to: 0 for the first, +1 for each new one
# the kiosk makes after the media failed (aiortc has no ICE restart; see MediaState).
MediaAttempt = Annotated[StrictInt, Field(ge=0, le=1000)]


class SessionDescription(Message):
    """SDP offer (terminal -> clerk) or answer (clerk -> terminal), relayed by the server."""

    session_id: SessionId
    type: Literal["offer", "answer"]
    sdp: Sdp
    attempt: MediaAttempt = 0


class IceCandidate(Message):
    """A trickled ICE candidate; an empty ``candidate`` means end-of-candidates."""

    session_id: SessionId
    candidate: str = Field(max_length=1024)
    sdp_mid: str | None = Field(default=None, max_length=32)
    sdp_mline_index: StrictInt | None = Field(default=None, ge=0, le=64)
    attempt: MediaAttempt = 0


class MediaFigures(Message):
    """What one side measures of the media it receives (getStats in the console, aiortc's
    own statistics at the kiosk); any figure may be unknown."""

    rtt_ms: float | None = Field(default=None, ge=0, le=600_000)
    loss_pct: float | None = Field(default=None, ge=0, le=100)
    bitrate_kbps: float | None = Field(default=None, ge=0, le=1_000_000)
    fps: float | None = Field(default=None, ge=0, le=1000)


class MediaStatus(Message):
    """A peer reports its media: ``connected`` (media flows; from both it starts the call),
    ``interrupted`` (nothing received for ``stalled_ms``, or ICE disconnected) or ``failed``
    (its peer connection is dead: the kiosk makes a new one, see MediaState)."""

    session_id: SessionId
    state: Literal["connected", "interrupted", "failed"]
    attempt: MediaAttempt = 0
    # how long this side has received nothing when it sends the report: the server compares
    # it with when the report arrives to tell whose link broke (a late report came over it)
    stalled_ms: StrictInt = Field(default=0, ge=0, le=3_600_000)
    figures: MediaFigures | None = None


MediaLink = Literal["terminal", "clerk", "network"]


class MediaState(Message):
    """The server tells both sides how the call's media stands after a break.

    ``interrupted``: one side receives nothing; the call ends ``ends_in_s`` from now unless
    media returns. ``restarting``: a peer connection failed; the kiosk makes peer connection
    ``attempt`` and offers it, the console answers it. ``restored``: media flows again after
    ``gap_ms``. ``link`` says whose link broke, once the server can tell.
    """

    session_id: SessionId
    state: Literal["interrupted", "restarting", "restored"]
    attempt: MediaAttempt = 0
    link: MediaLink | None = None
    ends_in_s: float | None = None
    gap_ms: StrictInt | None = None


class Hangup(Message):
    session_id: SessionId
    reason: str = Field(default="hangup", max_length=200)


# ---------------------------------------------------------------- clerk -> server


# an away reason or a disposition code: an id of the settings or the catalogue
WorkCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
MAX_WRAP_UP_NOTE = 1000


class SetAvailability(Message):
    """Available, or away for one of the away reasons (required when going away)."""

    available: StrictBool
    reason: WorkCode | None = None


class FileWrapUp(Message):
    """The clerk files the disposition of the call just ended; then available, or away for
    ``away_reason`` ("then take a break")."""

    session_id: SessionId
    code: WorkCode
    note: str = Field(default="", max_length=MAX_WRAP_UP_NOTE)
    away_reason: WorkCode | None = None


class ExtendWrapUp(Message):
    """The clerk asks for more wrap-up time (the server's ``wrap_up_extend_s``)."""

    session_id: SessionId


STEP_COUNT = 7  # the seven steps of every session (see ARCHITECTURE.md)


class PushPrompt(Message):
    """The clerk puts something on the applicant's screen: a text, a checklist or a
    "please place your passport on the scanner" instruction. Relayed as :class:`Prompt`."""

    session_id: SessionId
    kind: Literal["text", "checklist", "place_document"]
    text: str = Field(default="", max_length=500)
    items: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20
    )


class SetStep(Message):
    """The clerk moves the session to one of the seven steps; the kiosk's indicator follows."""

    session_id: SessionId
    step: StrictInt = Field(ge=1, le=STEP_COUNT)


class TransferCall(Message):
    """The clerk hands their call on (blind): to a department, or to a named clerk (of the
    department given, else of the call's own), who takes it up when free."""

    session_id: SessionId
    department_id: ServiceId | None = None
    clerk: str | None = Field(default=None, min_length=1, max_length=64)


class ConsultStart(Message):
    """The clerk asks a free clerk about their call first (a warm transfer): the applicant
    holds while the two talk; then the call is handed over or taken back."""

    session_id: SessionId
    clerk: str = Field(min_length=1, max_length=64)
    # the department the clerk would take the call up for (the call's own if None)
    department_id: ServiceId | None = None


class ConsultAnswer(Message):
    """The consulted clerk takes the consultation up or declines it."""

    session_id: SessionId
    accept: StrictBool


class ConsultFinish(Message):
    """``hand_over`` or ``take_back`` (the call's clerk), ``leave`` (the consulted clerk)."""

    session_id: SessionId
    outcome: Literal["hand_over", "take_back", "leave"]


class ConsultDescription(Message):
    type: Literal["offer", "answer"]
    sdp: Sdp


class ConsultCandidate(Message):
    candidate: str = Field(max_length=1024)
    sdp_mid: str | None = Field(default=None, max_length=32)
    sdp_mline_index: StrictInt | None = Field(default=None, ge=0, le=64)


class ConsultSignal(Message):
    """WebRTC between the two clerks' consoles, relayed by the server to the other one."""

    session_id: SessionId
    description: ConsultDescription | None = None
    candidate: ConsultCandidate | None = None


# ---------------------------------------------------------------- server -> client


class QueueStatus(Message):
    """The terminal's place in the queue, sent whenever it changes."""

    session_id: SessionId
    service_id: ServiceId
    position: StrictInt = Field(ge=0)
    state: SessionState
    estimated_wait_s: StrictInt | None = None
    # clerks of this department at work (available, ringing or in a call); 0: nobody on duty
    clerks_on_duty: StrictInt | None = None
    # the session's version when this was computed (see SessionSnapshot)
    version: StrictInt = 0
    # the wait is long (over ``callback_offer_after_s``, or nobody on duty): the kiosk offers
    # to leave a phone number for a callback instead (POST /api/callbacks)
    callback_offered: bool = False


class SessionOpened(Message):
    """The request is queued: the terminal prepares its WebRTC offer while it waits.

    The offer (a ``description``) is held by the server and handed to the clerk who accepts,
    so creating it is off the call's critical path.
    """

    session_id: SessionId
    ice_servers: list[IceServer]
    ice_transport_policy: IcePolicy = "all"
    # how long these ICE servers' credentials last (None: they do not expire); a kiosk may
    # reuse them for the offer of its next call within half that time
    ice_ttl_s: StrictInt | None = None
    version: StrictInt = 0
    # this request takes the front of the queue (a recall after a lost call)
    priority: StrictInt = 0


class CallAccepted(Message):
    """A clerk took the call: both sides start WebRTC (the terminal makes the offer)."""

    session_id: SessionId
    ice_servers: list[IceServer]
    ice_transport_policy: IcePolicy = "all"
    peer_name: str
    service_name: LocalizedText
    department_id: str
    language: Language
    care_mode: StrictBool = False
    version: StrictInt = 0
    service_id: str = ""
    # the call's current peer connection: a console page that comes back to the call (a
    # reload) asks the kiosk for the next one (see ClerkStatus.call)
    attempt: MediaAttempt = 0
    # the IANA time zone of the applicant's kiosk (its place's city); None: at no place
    applicant_zone: str | None = Field(default=None, max_length=64)


class Prompt(Message):
    """A prompt the clerk pushed, as the kiosk receives it."""

    session_id: SessionId
    id: str
    kind: Literal["text", "checklist", "place_document"]
    text: str = ""
    items: list[str] = Field(default_factory=list)


class CallOffered(Message):
    """An incoming call for a clerk, to accept or decline before ``expires_in_s``."""

    session_id: SessionId
    service_id: ServiceId
    service_name: LocalizedText
    department_id: str
    language: Language
    terminal_name: str
    waited_s: StrictFloat
    expires_in_s: StrictFloat
    care_mode: StrictBool = False
    # The kiosk's offer when it is already held, and the session's ICE servers: the console
    # builds its answer while the call rings and sends it the moment the call is accepted.
    offer: Sdp | None = None
    ice_servers: list[IceServer] = Field(default_factory=list)
    ice_transport_policy: IcePolicy = "all"
    # the IANA time zone of the applicant's kiosk (its place's city); None: at no place
    applicant_zone: str | None = Field(default=None, max_length=64)


class CallWithdrawn(Message):
    """An offered call is gone from this clerk (cancelled, timed out, declined)."""

    session_id: SessionId
    reason: Literal[
        "cancelled", "timeout", "declined", "terminal_left", "terminal_lost", "clerk_left"
    ]


class CallEnded(Message):
    session_id: SessionId
    state: SessionState
    reason: str
    by: Role
    version: int = 0
    # the call was lost (not ended by anyone): the kiosk may ask again at the front of the queue
    recall: bool = False


class DispositionCode(Message):
    """One of a department's disposition codes, as the wrap-up panel lists it."""

    id: WorkCode
    names: LocalizedText


class WrapUpView(Message):
    """The clerk's wrap-up: its call, its time left (negative: over time) and the codes."""

    session_id: SessionId
    started_at: datetime
    deadline: datetime
    remaining_s: float
    extend_s: float
    max_s: float
    codes: list[DispositionCode]


class CallTransferred(Message):
    """A clerk handed the call on: the kiosk waits for the next clerk (a fresh offer), the
    clerk who handed it on is out of the call."""

    session_id: SessionId
    department_id: str
    department_name: LocalizedText
    # the clerk it is kept for (their display name); None: anyone of the department
    clerk_name: str | None = None
    # the display name of the clerk who handed it on
    from_name: str = ""
    version: int = 0


class Consult(Message):
    """A consultation about a call, to both clerks' consoles: ``ringing`` (asked),
    ``talking`` (the consoles connect: the caller offers), ``ended`` (``outcome`` says how)."""

    session_id: SessionId
    state: Literal["ringing", "talking", "ended"]
    role: Literal["caller", "consulted"]
    peer_name: str
    outcome: str | None = None
    service_id: ServiceId
    service_name: LocalizedText
    department_id: str
    language: Language
    care_mode: bool = False
    ice_servers: list[IceServer] = Field(default_factory=list)
    ice_transport_policy: IcePolicy = "all"


class Hold(Message):
    """To the kiosk: its clerk is consulting a colleague (``on``), or the call goes on; after
    a hand-over with ``clerk_name`` and the ``attempt`` of the peer connection to make."""

    session_id: SessionId
    on: StrictBool
    clerk_name: str | None = None
    attempt: MediaAttempt | None = None


class ClerkStatus(Message):
    """The clerk's own state, sent on connect and on every change."""

    state: ClerkState
    display_name: str
    departments: list[str]
    session_id: SessionId | None = None
    # on connect only: ICE servers as a call will get them, so the console can make even the
    # shift's first call's peer connection ahead (a call brings its own; the console adapts)
    ice_servers: list[IceServer] | None = None
    ice_transport_policy: IcePolicy = "all"
    # +1 on every change of the clerk's state: a jump means a message was lost (send "sync")
    version: int = 0
    # on connect: present it on reconnecting within the grace period to keep state and call
    resume_token: str | None = None
    # on connect while a call is in progress: the call, to carry on with
    call: CallAccepted | None = None
    # why the clerk is away (also kept through a wrap-up that began while away)
    away_reason: WorkCode | None = None
    # the reasons the clerk may give for stepping away
    away_reasons: list[WorkCode] = Field(default_factory=list)
    wrap_up: WrapUpView | None = None


class SupervisorInfo(Message):
    """Who is listening in, as the clerk and (when told) the applicant see it."""

    name: str = Field(max_length=120)
    role: str = Field(max_length=32)


class SupervisionNotice(Message):
    """Server -> kiosk: what the applicant is told of a supervisor in the call
    (signaling/monitor.py). ``joined`` (a barge) is always shown, ``monitored`` only where the
    department says applicants are told of monitoring."""

    session_id: SessionId
    state: Literal["monitored", "joined", "none"]
    supervisor: SupervisorInfo | None = None


class SessionSnapshot(Message):
    """Everything a kiosk needs to know about its state, on (re)connect and on ``sync``."""

    resume_token: str | None = None
    # whether the socket took up the previous one's session (resume token accepted)
    resumed: bool = False
    session_id: SessionId | None = None
    state: SessionState | None = None
    version: int = 0
    step: int = 1
    service_id: str | None = None
    care_mode: bool = False
    ice_servers: list[IceServer] = Field(default_factory=list)
    ice_transport_policy: IcePolicy = "all"
    # while in a call: the call as call_accepted told it
    call: CallAccepted | None = None
    # while the call's media is broken: where the recovery stands
    media: MediaState | None = None
    # while a supervisor the applicant is told of is in the call
    supervision: SupervisionNotice | None = None


class SyncRequest(Message):
    """Ask for a full snapshot (sent after noticing a gap in versions)."""


class ErrorEvent(Message):
    """A refused event: ``code`` for programs, ``message`` for people, ``field`` if a field."""

    code: str
    message: str
    event: str | None = None
    field: str | None = None


# ---------------------------------------------------------------- identity (step 3)
# The kiosk reports the identity check (REST, signaling/identity.py); the session's clerk is
# told by an ``identity`` event and reads the panel over REST. Personal data never goes to
# anyone but the clerk of that session.

IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
MrzText = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9 ]{0,39}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
LivenessAction = Literal["blink", "turn_left", "turn_right"]


class IdentityDocument(Message):
    """The document as read (MRZ fields, check digits already verified) and by which reader."""

    source: Literal["mrz_scan", "chip"]
    format: Literal["TD1", "TD2", "TD3"]
    document_type: MrzText
    issuing_state: MrzText
    document_number: MrzText
    surname: MrzText
    given_names: MrzText
    nationality: MrzText
    birth_date: IsoDate
    sex: Literal["M", "F", "X"]
    expiry_date: IsoDate
    optional_data: MrzText = ""


class IdentityMatch(Message):
    """Live face against the document portrait: cosine ``score`` and the threshold used."""

    score: StrictFloat | None = Field(ge=-1.0, le=1.0)
    threshold: StrictFloat = Field(gt=0.0, lt=1.0)
    matched: StrictBool


class IdentityLiveness(Message):
    """The challenge asked, what was performed, and why it failed if it did."""

    passed: StrictBool
    challenge: list[LivenessAction] = Field(max_length=3)
    completed: list[LivenessAction] = Field(max_length=3)
    reason: Literal["timeout", "face_changed", "face_lost", "several_faces"] | None = None
    frames: StrictInt = Field(ge=0)
    matched_frames: StrictInt = Field(ge=0)
    min_score: StrictFloat | None = Field(default=None, ge=-1.0, le=1.0)
    max_score: StrictFloat | None = Field(default=None, ge=-1.0, le=1.0)


class EvidenceImage(Message):
    """One evidence picture as sent by the kiosk: the portrait or a live frame, JPEG."""

    kind: Literal["portrait", "frame"]
    jpeg_base64: str = Field(min_length=8, max_length=700_000)


class IdentityReport(Message):
    """POST /api/sessions/{id}/identity body: one identity attempt at the kiosk."""

    outcome: Literal["verified", "failed"]
    # the error code of a failed attempt (check_digit, document_expired, no_face, ...)
    failure_code: str | None = Field(default=None, pattern=r"^[a-z_]{2,40}$")
    document: IdentityDocument | None = None
    match: IdentityMatch | None = None
    liveness: IdentityLiveness | None = None
    evidence: list[EvidenceImage] = Field(default_factory=list, max_length=6)


class EvidenceRef(Message):
    """A stored evidence picture: fetch it at /api/sessions/{id}/identity/evidence/{sha256}."""

    kind: Literal["portrait", "frame"]
    sha256: Sha256Hex
    bytes: StrictInt


class EidEvidence(Message):
    """Who signed in with an e-ID provider (OpenID Connect), as the chain records it inside
    ``identity.result`` (``eid``); ``assurance`` is ``strong`` when the provider's acr/amr
    count as a card read plus a face match, else ``lower`` (the clerk must confirm)."""

    provider: str
    provider_name_zh_hant: str
    provider_name_zh_hans: str
    provider_name_en: str
    issuer: str
    subject: str
    name: str
    name_latin: str | None = None
    document_number: str
    document_type: str | None = None
    birth_date: str | None = None
    acr: str | None = None
    amr: list[str] = Field(default_factory=list)
    assurance: Literal["strong", "lower"]
    # when the applicant signed in at the provider (its auth_time), ISO 8601 UTC
    signed_in_at: str | None = None


class IdentityResult(Message):
    """An attempt as the session's chain holds it (event ``identity.result``)."""

    seq: StrictInt
    at: str
    outcome: Literal["verified", "failed"]
    failure_code: str | None = None
    document: IdentityDocument | None = None
    match: IdentityMatch | None = None
    liveness: IdentityLiveness | None = None
    evidence: list[EvidenceRef] = Field(default_factory=list)
    # an e-ID sign-in instead of a card read and face match (signaling/eid)
    eid: EidEvidence | None = None


class IdentityOverride(Message):
    """POST /api/sessions/{id}/identity/override body: why the clerk accepts a failed check."""

    reason: str = Field(min_length=10, max_length=1000)


class IdentityOverrideRecord(Message):
    """A clerk's override as recorded (event ``identity.override``)."""

    seq: StrictInt
    at: str
    clerk: str
    reason: str
    result_seq: StrictInt


class IdentityPanel(Message):
    """GET /api/sessions/{id}/identity: what the session's clerk sees in the identity panel."""

    session_id: SessionId
    status: Literal["pending", "verified", "failed", "overridden"]
    attempts: StrictInt
    result: IdentityResult | None = None
    override: IdentityOverrideRecord | None = None


class IdentityUpdated(Message):
    """Server -> the session's clerk: the identity panel changed; fetch it again."""

    session_id: SessionId
    status: Literal["pending", "verified", "failed", "overridden"]


class Event(StrEnum):
    REQUEST_SERVICE = "request_service"
    CANCEL = "cancel"
    ACCEPT = "accept"
    DECLINE = "decline"
    SET_AVAILABILITY = "set_availability"
    FILE_WRAP_UP = "file_wrap_up"
    EXTEND_WRAP_UP = "extend_wrap_up"
    DESCRIPTION = "description"
    ICE_CANDIDATE = "ice_candidate"
    MEDIA_STATUS = "media_status"
    MEDIA_STATE = "media_state"
    HANGUP = "hangup"
    QUEUE_STATUS = "queue_status"
    CALL_ACCEPTED = "call_accepted"
    CALL_OFFERED = "call_offered"
    CALL_WITHDRAWN = "call_withdrawn"
    CALL_ENDED = "call_ended"
    TRANSFER = "transfer"  # clerk -> server
    CONSULT_START = "consult_start"  # clerk -> server
    CONSULT_ANSWER = "consult_answer"  # clerk -> server
    CONSULT_FINISH = "consult_finish"  # clerk -> server
    CONSULT_SIGNAL = "consult_signal"  # clerk <-> server <-> clerk
    CONSULT = "consult"  # server -> both clerks
    HOLD = "hold"  # server -> kiosk
    CALL_TRANSFERRED = "call_transferred"  # server -> kiosk and the clerk who handed it on
    CLERK_STATUS = "clerk_status"
    ERROR = "error"
    RATE = "rate"
    PUSH_PROMPT = "push_prompt"
    SET_STEP = "set_step"
    PROMPT = "prompt"
    STEP = "step"
    SESSION_OPENED = "session_opened"
    SNAPSHOT = "snapshot"
    SYNC = "sync"
    IDENTITY = "identity"
    EID = "eid"  # server -> kiosk: its e-ID sign-in moved on (EidStatus)
    KIOSK_DEVICES = "kiosk_devices"
    # documents (signaling/documents.py): pushed by the server, never sent by clients
    DOCUMENT_ADDED = "document_added"
    CHECKLIST = "checklist"
    CAPTURE_REQUESTED = "capture_requested"
    # a supervisor in the call (signaling/monitor_messages.py)
    SUPERVISION = "supervision"  # server -> console
    SUPERVISION_NOTICE = "supervision_notice"  # server -> kiosk
    MONITOR_SIGNAL = "monitor_signal"  # console <-> server <-> supervisor
    MONITOR_START = "monitor_start"  # supervisor -> server
    MONITOR_CHANGE = "monitor_change"  # supervisor -> server
    MONITOR_STATE = "monitor_state"  # server -> supervisor
    # callbacks (signaling/callbacks.py): a task of the clerk's departments changed
    CALLBACKS_CHANGED = "callbacks_changed"  # server -> console
    # appointments (signaling/appointment_desk.py): an early arrival's slot has begun
    APPOINTMENT_DUE = "appointment_due"  # server -> kiosk
    # complaints (signaling/complaints/): a ticket of the supervisor's departments changed
    COMPLAINTS_CHANGED = "complaints_changed"  # server -> supervisor


TERMINAL_EVENTS: dict[Event, type[Message]] = {
    Event.REQUEST_SERVICE: RequestService,
    Event.CANCEL: SessionRef,
    Event.DESCRIPTION: SessionDescription,
    Event.ICE_CANDIDATE: IceCandidate,
    Event.MEDIA_STATUS: MediaStatus,
    Event.HANGUP: Hangup,
    Event.RATE: RateSession,
    Event.SYNC: SyncRequest,
}

CLERK_EVENTS: dict[Event, type[Message]] = {
    Event.SET_AVAILABILITY: SetAvailability,
    Event.FILE_WRAP_UP: FileWrapUp,
    Event.EXTEND_WRAP_UP: ExtendWrapUp,
    Event.ACCEPT: SessionRef,
    Event.DECLINE: SessionRef,
    Event.DESCRIPTION: SessionDescription,
    Event.ICE_CANDIDATE: IceCandidate,
    Event.MEDIA_STATUS: MediaStatus,
    Event.HANGUP: Hangup,
    Event.PUSH_PROMPT: PushPrompt,
    Event.SET_STEP: SetStep,
    Event.SYNC: SyncRequest,
    Event.TRANSFER: TransferCall,
    Event.CONSULT_START: ConsultStart,
    Event.CONSULT_ANSWER: ConsultAnswer,
    Event.CONSULT_FINISH: ConsultFinish,
    Event.CONSULT_SIGNAL: ConsultSignal,
}

SERVER_EVENTS: dict[Event, type[Message]] = {
    Event.MEDIA_STATE: MediaState,
    Event.SESSION_OPENED: SessionOpened,
    Event.SNAPSHOT: SessionSnapshot,
    Event.QUEUE_STATUS: QueueStatus,
    Event.CALL_ACCEPTED: CallAccepted,
    Event.CALL_OFFERED: CallOffered,
    Event.CALL_WITHDRAWN: CallWithdrawn,
    Event.CALL_ENDED: CallEnded,
    Event.CALL_TRANSFERRED: CallTransferred,
    Event.CONSULT: Consult,
    Event.CONSULT_SIGNAL: ConsultSignal,
    Event.HOLD: Hold,
    Event.CLERK_STATUS: ClerkStatus,
    Event.DESCRIPTION: SessionDescription,
    Event.ICE_CANDIDATE: IceCandidate,
    Event.ERROR: ErrorEvent,
    Event.PROMPT: Prompt,
    Event.STEP: SetStep,
    Event.IDENTITY: IdentityUpdated,
    Event.KIOSK_DEVICES: KioskDevicesReported,
}

NAMESPACE_TERMINAL = "/terminal"
NAMESPACE_CLERK = "/clerk"
NAMESPACE_SUPERVISOR = "/supervisor"


# ---------------------------------------------------------------- documents (step 4)
# Uploads and reviews are REST (signaling/documents.py); the server pushes the results.

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
MaterialId = ServiceId
DocumentSource = Literal["camera", "scanner", "usb", "phone"]
# to_follow: accepted without it, to be brought by due_on (容缺受理)
MaterialStatus = Literal["missing", "received", "accepted", "rejected", "rescan", "to_follow"]


class DocumentMeta(Message):
    """What an upload is (header ``X-Document``): which material, from where, its file name."""

    material_id: MaterialId
    source: DocumentSource
    filename: str = Field(default="", max_length=200)


class DocumentInfo(Message):
    """A stored document of a session, as the clerk's console lists it."""

    sha256: Sha256
    material_id: MaterialId
    content_type: Literal["image/jpeg", "image/png", "application/pdf"]
    bytes: StrictInt = Field(ge=1)
    pages: StrictInt = Field(ge=1)
    width: StrictInt = Field(default=0, ge=0)
    height: StrictInt = Field(default=0, ge=0)
    source: DocumentSource
    filename: str = ""
    seq: StrictInt = Field(ge=1)  # the document.added event's place in the session's chain
    # set once the clerk rejected this material or asked for a re-scan after it arrived
    superseded: StrictBool = False


class UploadStatus(Message):
    """The answer to every upload request: how far it got and, once stored, the document."""

    sha256: Sha256
    received: StrictInt = Field(ge=0)
    total: StrictInt = Field(ge=0)
    stored: StrictBool
    duplicate: StrictBool = False
    document: DocumentInfo | None = None


class ChecklistItem(Message):
    material_id: MaterialId
    names: LocalizedText
    required: StrictBool
    status: MaterialStatus
    reason: str = ""
    documents: list[Sha256] = Field(default_factory=list)  # the current (not superseded) ones
    # 容缺受理: whether the clerk may accept without it, and the due date once they did
    may_follow: StrictBool = False
    due_on: date | None = None


class Checklist(Message):
    """The service's materials and where each stands; both screens show the same list."""

    session_id: SessionId
    items: list[ChecklistItem]
    complete: bool  # every required material accepted


class ReviewMaterial(Message):
    """The clerk's decision on a material: accept it, reject it, or ask for a re-scan."""

    decision: Literal["accepted", "rejected", "rescan"]
    reason: str = Field(default="", max_length=300)


class RequestCapture(Message):
    """The clerk asks the kiosk to capture a page from the document camera or scanner."""

    material_id: MaterialId
    device: Literal["camera", "scanner"] = "camera"


class DocumentAdded(Message):
    session_id: SessionId
    document: DocumentInfo


class CaptureRequested(Message):
    session_id: SessionId
    material_id: MaterialId
    device: Literal["camera", "scanner"]


class DocumentList(Message):
    """``GET /api/sessions/{id}/documents``: every stored document and the checklist."""

    documents: list[DocumentInfo]
    checklist: Checklist


class EidProviderInfo(Message):
    """An e-ID provider the kiosk may offer ("Sign in with 智方便")."""

    id: str
    name_zh_hant: str
    name_zh_hans: str
    name_en: str


class EidStart(Message):
    """POST /api/sessions/{id}/eid body: the kiosk asks for a sign-in QR code."""

    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    language: Language


class EidLink(Message):
    """The answer: the short link the phone opens, as a QR code, and how long it works."""

    attempt_id: str
    provider: str
    url: str
    qr: str  # data: URI (SVG), ready for an <img>
    expires_in_s: StrictInt


class EidStatus(Message):
    """Server -> the session's kiosk (event ``eid``): what became of its e-ID sign-in."""

    session_id: SessionId
    attempt_id: str
    state: Literal["opened", "finished", "refused", "expired", "cancelled"]
    # finished: strong or lower (the clerk confirms); refused: the refusal's code and sentence
    assurance: Literal["strong", "lower"] | None = None
    code: str | None = None
    message: str = ""


class PhoneLink(Message):
    """A one-time upload link for the applicant's phone, shown as a QR code at the kiosk."""

    url: str
    expires_in_s: StrictInt
    qr: str  # the QR code as a data: URI (SVG), ready for an <img>


SERVER_EVENTS.update(
    {
        Event.DOCUMENT_ADDED: DocumentAdded,
        Event.CHECKLIST: Checklist,
        Event.CAPTURE_REQUESTED: CaptureRequested,
    }
)


# ---------------------------------------------------------------- callbacks (issue 15)
# The kiosk leaves a phone number instead of waiting (REST, signaling/callbacks.py); clerks
# list, take and record their call attempts over REST, nudged by ``callbacks_changed``. The
# phone number goes only to the clerk who took the task.

CallbackRegion = Literal["HK", "MO", "CN"]
CallbackOutcome = Literal["resolved", "needs_visit", "no_answer", "wrong_number"]


class RequestCallback(Message):
    """``POST /api/callbacks`` (kiosk): stop waiting, be called back at ``phone``."""

    session_id: SessionId
    # as typed: local to ``region`` or with a + country code; the server checks it
    phone: str = Field(max_length=32)
    region: CallbackRegion


class CallbackCreated(Message):
    """The callback task is stored; the kiosk shows its reference and when to expect the call."""

    reference: str
    expect_within_s: StrictInt


class CallbackTask(Message):
    """One callback task as a clerk's console lists it."""

    reference: str
    department_id: str
    service_id: str
    service_name: LocalizedText
    language: Language
    state: Literal["open", "taken", "closed"]
    created_at: datetime
    attempts: StrictInt
    taken_by: StrictInt | None = None
    # shown only to the clerk who took the task
    phone: str | None = None
    outcome: str | None = None


class CallbackList(Message):
    """``GET /api/callbacks``: the open tasks of the clerk's departments, oldest first, and
    the ones they hold."""

    tasks: list[CallbackTask]
    max_attempts: StrictInt


class RecordAttempt(Message):
    """``POST /api/callbacks/{reference}/attempt``: how the clerk's call went."""

    outcome: CallbackOutcome
    note: str = Field(default="", max_length=500)


class CallbacksChanged(Message):
    """A task of ``department_id`` was opened, taken, returned or closed: list them again."""

    department_id: str
    open: StrictInt


SERVER_EVENTS[Event.CALLBACKS_CHANGED] = CallbacksChanged


# ---------------------------------------------------------------- appointments
# The booking page's and panels' REST bodies are in signaling/appointment_messages.py.


class AppointmentDue(Message):
    """An early arrival's slot has begun: the kiosk that checked them in asks for the
    service now, with the booking's number (``request_service.appointment``)."""

    number: Annotated[str, StringConstraints(pattern=r"^AP\d{10}[0-9X]$")]
    service_id: ServiceId


SERVER_EVENTS[Event.APPOINTMENT_DUE] = AppointmentDue
# ---------------------------------------------------------------- complaints (issue 17)
# The kiosk files a complaint about an ended session (REST, signaling/complaints/routes.py);
# supervisors of the department list, assign, answer and close tickets over REST, nudged by
# ``complaints_changed`` on their /supervisor socket. Anyone with the number and the access
# code looks its status up, at a kiosk or on the public phone page.

ComplaintCategory = Literal["staff", "waiting", "equipment", "result", "other"]
ComplaintState = Literal["open", "answered", "closed"]


class FileComplaint(Message):
    """``POST /api/complaints`` (kiosk): a complaint about the kiosk's ended session."""

    session_id: SessionId
    category: ComplaintCategory
    # bounds here only stop abuse; the server says in a sentence what is too long or empty
    text: str = Field(max_length=4000)
    phone: str = Field(default="", max_length=32)
    region: CallbackRegion = "HK"


class ComplaintFiled(Message):
    """The ticket is stored: its number and access code (shown and printed once; the server
    keeps only a keyed hash of the code) and the day it is due to be answered."""

    number: str
    access_code: str
    filed_at: datetime
    due_on: date
    department_id: str
    department_name: LocalizedText
    # the public page that looks it up (printed on the slip with its QR code)
    status_url: str


class ComplaintLookup(Message):
    """``POST /api/complaints/status`` (kiosk or phone page): number and access code."""

    number: str = Field(max_length=40)
    access_code: str = Field(max_length=20)


class ComplaintStatus(Message):
    """What the applicant may see of their ticket."""

    number: str
    state: ComplaintState
    category: ComplaintCategory
    filed_at: datetime
    due_on: date
    overdue: bool
    department_name: LocalizedText
    answer: str | None = None
    answered_at: datetime | None = None
    # the day of the answer on the department's calendar (what the applicant is told)
    answered_on: date | None = None


class ComplaintTicket(Message):
    """One ticket as the supervisors' Complaints tab shows it."""

    number: str
    session_id: str
    department_id: str
    service_id: str
    category: ComplaintCategory
    language: Language
    text: str
    phone: str | None = None
    state: ComplaintState
    filed_at: datetime
    due_on: date
    overdue: bool
    served_by: str | None = None  # the clerk of the session (display name)
    assigned_to: str | None = None  # username
    answer: str | None = None
    answered_at: datetime | None = None
    closed_at: datetime | None = None


class ComplaintStaff(Message):
    """Someone a ticket may be assigned to."""

    username: str
    display_name: str
    departments: list[str]


class ComplaintBoard(Message):
    """``GET /api/supervisor/complaints``: the tickets of the supervisor's departments."""

    tickets: list[ComplaintTicket]
    staff: list[ComplaintStaff]
    today: date


class AssignComplaint(Message):
    """``POST /api/supervisor/complaints/{number}/assign``."""

    username: str = Field(min_length=1, max_length=64)


class AnswerComplaint(Message):
    """``POST /api/supervisor/complaints/{number}/answer``: the answer the applicant sees."""

    answer: str = Field(max_length=8000)


class ComplaintsChanged(Message):
    """A ticket of ``department_id`` was filed or changed: list them again."""

    department_id: str
    number: str
    state: ComplaintState


SERVER_EVENTS[Event.COMPLAINTS_CHANGED] = ComplaintsChanged
