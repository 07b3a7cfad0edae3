"""The contract between the kiosk process and its on-screen UI (a local page in Chromium).

The kiosk process (``terminal_client.kiosk.server``) is the authority on what the applicant
sees: it holds one :class:`KioskView` and sends it whole on every change over the UI's
websocket (``/ws``), so a reloaded page shows the same screen. The page sends
:class:`UiCommand` messages back. Media does not travel here: the clerk's video goes to the
page as JPEG frames over ``/media/video``, the clerk's audio as PCM over ``/media/audio``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from signaling.messages import ComplaintCategory, Language, ServiceId

STEPS = 7  # the seven steps of every session, shown as the in-call step indicator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Screen(StrEnum):
    LANGUAGE = "language"  # start: pick 繁體中文 / 简体中文 / English
    SERVICES = "services"  # departments and their services, with search
    MATERIALS = "materials"  # what the chosen service needs, then "call a clerk"
    QUEUE = "queue"  # position and estimated wait, live, with cancel
    CALL = "call"  # clerk video large, own preview small, prompts, step indicator
    ENDED = "ended"  # rating 1-5 and optional comment
    INTERRUPTED = "interrupted"  # the call was cut off: call again (front of the queue) or finish
    THANKS = "thanks"  # after rating; returns to LANGUAGE by itself
    OFFLINE = "offline"  # the server cannot be reached; retrying
    RESULT = "result"  # print a result later: acceptance number + ID re-check
    # a long wait: leave a phone number on a number pad and be called back instead
    CALLBACK = "callback"
    # "I have an appointment": scan or type the booking number, wait for the slot if early
    APPOINTMENT = "appointment"
    # a complaint about the session just ended, and a complaint's status by number and code
    COMPLAINT = "complaint"
    COMPLAINT_STATUS = "complaint_status"
    # a service without a clerk: identity, the department's document, printed
    SELF_SERVICE = "self_service"
    # 容缺受理: bring a material an application was accepted without (acceptance number +
    # ID re-check, then scan it)
    FOLLOW = "follow"


class Prompt(_Model):
    """Something the clerk pushed to the applicant's screen."""

    id: str
    kind: Literal["text", "checklist", "place_document"]
    text: str = ""
    items: list[str] = Field(default_factory=list)
    # filled by the kiosk in care mode: a WAV of the prompt spoken in the applicant's language
    audio_url: str | None = None


class QueueView(_Model):
    position: int
    estimated_wait_s: int | None = None
    # the server offers a callback instead of waiting (a long wait, or nobody on duty)
    callback_offered: bool = False


class CallbackView(_Model):
    """The CALLBACK screen: the number pad (``enter``), sending, then the reference (``done``).

    The number typed stays on the page until the applicant confirms; only then does it come
    here, to be checked and sent (it is never logged)."""

    state: Literal["enter", "sending", "done"]
    # the page's region buttons: where the number is local to
    region: Literal["HK", "MO", "CN"] = "HK"
    # translation key of what is wrong with the number (``callback.error.<reason>``), with
    # the server's own sentence when the key is the generic one
    error_key: str | None = None
    error_detail: str = ""
    reference: str | None = None
    expect_within_s: int | None = None


class AppointmentView(_Model):
    """The APPOINTMENT screen: the number pad (``enter``), being checked (``checking``) or
    read from the scanner (``scanning``), checked in early and ``waiting`` for the slot, or
    ``late`` (past the grace time: the priority is lost, join as a walk-in)."""

    state: Literal["enter", "checking", "scanning", "waiting", "late"]
    can_scan: bool = False
    # translation key of what is wrong (``appointment.error.<code>``), with the server's
    # sentence when there is no key for it
    error_key: str | None = None
    error_detail: str = ""
    number: str | None = None
    service_id: str | None = None
    local_time: str = ""
    zone_label: str = ""
    grace_minutes: int = 0


class TransferView(_Model):
    """The clerk handed the call on: to which department (its name in the applicant's
    language) and, when it is kept for one, which clerk."""

    department: str
    clerk: str | None = None


class SupervisionView(_Model):
    """A supervisor in the call: ``joined`` (the applicant hears them) or ``monitored``
    (listening only). ``name`` and ``role`` are empty when the server did not say who."""

    state: Literal["monitored", "joined"]
    name: str = ""
    role: str = ""  # as the server says it ("supervisor"); the page translates known roles


class CallView(_Model):
    clerk_name: str
    department_id: str
    step: int = Field(ge=1, le=STEPS)
    connected: bool  # false while WebRTC is still connecting
    # the connection dropped during the call and is being restored (the clerk is still there)
    reconnecting: bool = False
    # the link is poor (long round trip, loss, few pictures): the picture may lag or blur
    weak_connection: bool = False
    supervision: SupervisionView | None = None
    # the clerk is consulting a colleague about the call (a warm transfer): please hold
    on_hold: bool = False


class Notice(_Model):
    """A message for the applicant, by translation key (``error.<code>`` or ``notice.<x>``)."""

    key: str
    # the server's own text, shown only if the translation catalogue lacks ``key``
    detail: str = ""


class IdentityView(_Model):
    """The identity step (step 3) as the applicant sees it during the call."""

    phase: Literal["document", "reading", "face", "challenge", "sending", "done", "failed"]
    # the movement asked for now, while phase is face / challenge
    action: Literal["blink", "turn_left", "turn_right"] | None = None
    completed: list[Literal["blink", "turn_left", "turn_right"]] = Field(default_factory=list)
    # translation key of the failure (``identity.error.<code>``), with the kiosk's own text
    error_key: str | None = None
    error_detail: str = ""
    attempts: int = 0
    # the automatic check failed and the clerk confirmed the identity in person
    confirmed_by_clerk: bool = False


class EidChoice(_Model):
    """An e-ID provider the applicant may sign in with, named in each language."""

    id: str
    name_zh_hant: str
    name_zh_hans: str
    name_en: str


class EidView(_Model):
    """Step 3 by e-ID: the providers to choose from, the QR code for the phone, the outcome."""

    phase: Literal["choose", "starting", "qr", "phone", "done", "refused", "expired"]
    providers: list[EidChoice]
    provider: str | None = None
    qr: str | None = None  # data: URI (SVG) of the short link
    expires_in_s: int | None = None
    assurance: Literal["strong", "lower"] | None = None
    # translation key of a refusal (``eid.refused.<code>``), with the server's own sentence
    error_key: str | None = None
    error_detail: str = ""


class MaterialView(_Model):
    """One line of the materials checklist as the applicant sees it during the call."""

    material_id: str
    required: bool
    # to_follow: the clerk accepted the application without it; bring it by due_on (容缺受理)
    status: Literal["missing", "received", "accepted", "rejected", "rescan", "to_follow"]
    reason: str = ""  # the clerk's words when rejected or asked to scan again
    pages: int = 0
    due_on: str | None = None  # YYYY-MM-DD, for to_follow


class DocumentsView(_Model):
    """Step 4 on the call screen: what is still missing, and the ways to hand it over."""

    items: list[MaterialView]
    complete: bool
    busy: bool  # capturing or sending: the buttons wait
    devices: list[Literal["camera", "scanner", "usb", "phone"]]
    error: Notice | None = None
    usb_files: list[str] | None = None  # shown while the applicant picks a file
    phone_qr: str | None = None  # data: URI of the QR code, shown while the phone link is open
    phone_url: str | None = None


PrintState = Literal["queued", "printed", "retrying"]


class PayingView(_Model):
    """A fee to pay before submission: the order's QR code, amount, expiry and state.

    ``open``: scan and pay; ``paid``: the provider confirmed it (the number follows);
    ``failed`` / ``expired``: the screen offers a new code (``pay_again``)."""

    state: Literal[
        "pending", "open", "paid", "failed", "expired", "closed", "refunded", "refund_failed"
    ]
    amount: str  # "CNY 10.00"
    qr: str | None = None  # data: URI of the code URL's QR code, while it can be paid
    expires_at: str | None = None  # ISO time: the page counts down to it
    attempt: int = 1


class SigningView(_Model):
    """The form shown for signing, then the acceptance number and the receipt's printing."""

    state: Literal["sign", "sending", "paying", "signed"]
    form_sha256: str
    preview_url: str  # the form's first page as an image, served by the kiosk itself
    acceptance_number: str | None = None
    printing: PrintState | None = None
    print_error: str = (
        ""  # translation key of the printer's problem, e.g. error.printer_out_of_paper
    )
    # the department's decision once it comes (during the call), and the clerk's reason
    decision: Literal["approved", "returned", "rejected", "awaiting_second_approval"] | None = None
    decision_reason: str = ""
    # a fee due before submission: shown between the signature and the number
    payment: PayingView | None = None


class LookupView(_Model):
    """Print my result: the ID re-check, what was found for the number typed, and printing.

    ``unavailable``: this kiosk has no ID reader, so it prints no results. ``document``
    to ``challenge`` are the re-check's phases (insert the card, look at the camera, the
    movement asked for); ``failed`` says why in ``error_key`` and offers a retry.
    """

    state: Literal[
        "unavailable", "enter", "document", "reading", "face", "challenge", "checking",
        "paying", "found", "failed",
    ]  # fmt: skip
    acceptance_number: str = ""
    action: Literal["blink", "turn_left", "turn_right"] | None = None
    # translation key of the failure (``reprint.error.<code>``), with the kiosk's own text
    error_key: str | None = None
    error_detail: str = ""
    outcome: str | None = None  # the application's state (approved, submitted, ...)
    documents: int = 0
    printing: PrintState | None = None
    print_error: str = ""
    # ``paying``: the result's fee falls due now; it prints once the fee is paid
    payment: PayingView | None = None


class SelfServiceView(_Model):
    """A service without a clerk (terminal_client/kiosk/self_service_ui.py).

    ``document`` to ``challenge``: the identity check (insert the card, look at the camera,
    the movement asked for); ``fetching`` the department is asked (``slow``: it takes longer
    than usual, still waiting); ``eid``: no card reader here, the e-ID card is the way;
    ``printing`` / ``printed``; ``refused`` (the department has no
    record, or the person is not eligible) and ``failed`` (it did not answer, or the identity
    check failed) say why in ``error_key`` and offer "Ask a clerk"; ``unavailable``: this
    kiosk has no ID reader and camera, so only a clerk can help.
    """

    state: Literal[
        "unavailable", "opening", "document", "reading", "face", "challenge", "sending", "eid",
        "fetching", "slow", "printing", "printed", "refused", "failed",
    ]  # fmt: skip
    action: Literal["blink", "turn_left", "turn_right"] | None = None
    error_key: str | None = None
    error_detail: str = ""
    acceptance_number: str = ""
    reference: str = ""
    print_error: str = ""
    # "Ask a clerk" is offered (refused, failed, unavailable)
    can_ask_clerk: bool = False


class FollowItemView(_Model):
    """A material the application waits for, named in the applicant's language."""

    material_id: str
    name: str
    due_on: str  # YYYY-MM-DD
    pages: int = 0  # pages sent from this kiosk
    done: bool = False  # supplied


class FollowView(_Model):
    """Bring a missing material: the number, the ID re-check (as for a result), then each
    material scanned and finished. ``failed`` says why in ``error_key``; ``error_key`` on
    ``enter`` or ``list`` is a sentence beside the form or the list."""

    state: Literal[
        "unavailable", "enter", "document", "reading", "face", "challenge", "checking",
        "list", "scanning", "finishing", "done", "failed",
    ]  # fmt: skip
    acceptance_number: str = ""
    action: Literal["blink", "turn_left", "turn_right"] | None = None
    error_key: str | None = None
    error_detail: str = ""
    items: list[FollowItemView] = Field(default_factory=list)
    scanner: bool = True  # False: this kiosk has no scanner, so nothing can be brought here


class ComplaintView(_Model):
    """The COMPLAINT screen: the form (``enter``), sending, then the number, the access code
    and the slip's printing (``done``).

    The text typed stays on the page until the applicant sends it; a refusal names the field
    (``error_field``) and the page keeps everything entered."""

    state: Literal["enter", "sending", "done"]
    # offered at once after a rating of 1 or 2 (the page says "we are sorry")
    after_low_rating: bool = False
    category: ComplaintCategory | None = None
    region: Literal["HK", "MO", "CN"] = "HK"
    # translation key (``complaint.error.<reason>``) and the server's own sentence
    error_key: str | None = None
    error_detail: str = ""
    error_field: Literal["category", "text", "phone"] | None = None
    # how many times sending was refused: the page turns to the part of the form at fault
    refusals: int = 0
    number: str | None = None
    access_code: str | None = None
    due_on: date | None = None
    department: str = ""  # in the applicant's language
    status_url: str = ""  # the public page that looks it up
    printing: PrintState | None = None
    print_error: str = ""


class ComplaintStatusView(_Model):
    """The COMPLAINT_STATUS screen: number and access code on a pad, then what was found."""

    state: Literal["enter", "checking", "found", "failed"]
    number: str = ""
    ticket_state: Literal["open", "answered", "closed"] | None = None
    due_on: date | None = None
    overdue: bool = False
    department: str = ""
    answer: str | None = None
    answered_on: date | None = None
    # translation key of the refusal (``complaint_status.error.<code>``), with the server's text
    error_key: str | None = None
    error_detail: str = ""


class KioskView(_Model):
    """Everything the UI shows; sent whole on every change."""

    screen: Screen
    language: Language
    care_mode: bool
    service_id: ServiceId | None = None
    department_id: str | None = None  # the department being browsed on SERVICES
    search: str = ""
    queue: QueueView | None = None
    # on QUEUE after the clerk transferred the call: "you are being transferred to ..."
    transfer: TransferView | None = None
    call: CallView | None = None
    prompts: list[Prompt] = Field(default_factory=list)
    session_id: str | None = None
    rated: bool = False
    notice: Notice | None = None
    # seconds left before the kiosk returns to the start; set only while warning
    idle_warning_s: int | None = None
    # in care mode: spoken version of this screen's main instruction
    speech_url: str | None = None
    # the identity step, while it is on screen during the call
    identity: IdentityView | None = None
    # step 3 by e-ID (signaling/eid), while it is on screen during the call
    eid: EidView | None = None
    documents: DocumentsView | None = None  # on the call screen, when the kiosk handles documents
    # step 5 in the call: the form to sign (None while the clerk has not sent one)
    signing: SigningView | None = None
    # the RESULT screen: looking an application up by acceptance number
    lookup: LookupView | None = None
    # the CALLBACK screen
    callback: CallbackView | None = None
    # the APPOINTMENT screen
    appointment: AppointmentView | None = None
    # the COMPLAINT and COMPLAINT_STATUS screens
    complaint: ComplaintView | None = None
    complaint_status: ComplaintStatusView | None = None
    # the SELF_SERVICE screen
    self_service: SelfServiceView | None = None
    # the FOLLOW screen
    follow: FollowView | None = None


class ViewMessage(_Model):
    type: Literal["view"] = "view"
    view: KioskView


class NoticeMessage(_Model):
    """To one page only: its command was refused or malformed; the view did not change."""

    type: Literal["notice"] = "notice"
    notice: Notice


class HelloMessage(_Model):
    """First message on connect: the catalogue (as GET /api/catalogue returns it) and settings."""

    type: Literal["hello"] = "hello"
    catalogue: dict[str, object]
    idle_timeout_s: float
    idle_warning_s: float
    # the kiosk serves the clerk's decoded media at /media/video and /media/audio
    media: bool = False
    # the IANA time zone of the kiosk's place, for the clock in the top bar (clock.js);
    # None: the kiosk's own clock
    time_zone: str | None = None


KioskMessage = HelloMessage | ViewMessage | NoticeMessage  # anything the kiosk sends the page


# ---------------------------------------------------------------- UI -> kiosk


class SetLanguage(_Model):
    type: Literal["set_language"]
    language: Language


class SetCareMode(_Model):
    type: Literal["set_care_mode"]
    on: bool


class Browse(_Model):
    """Show a department's services (or all with ``None``) and/or filter by search text."""

    type: Literal["browse"]
    department_id: str | None = None
    search: str = Field(default="", max_length=100)


class ChooseService(_Model):
    type: Literal["choose_service"]
    service_id: ServiceId


class SimpleCommand(_Model):
    """``start`` (language chosen: go to SERVICES), ``back``, ``home``, ``call`` (join the
    queue for the chosen service), ``call_again`` (after an interrupted call: the same service
    at the front of the queue), ``cancel`` (leave the queue), ``hangup``, ``touch`` (any
    touch: resets the idle timer), ``dismiss_notice`` (close the view's notice),
    ``callback`` (from the queue: open the number pad), ``callback_back`` (back to the queue),
    ``pay_again`` (a new payment code after a failed or expired one), ``ask_clerk`` (a
    self-service service failed or was refused: a clerk's call, the identity kept);
    ``dismiss_prompt`` is :class:`DismissPrompt`."""

    type: Literal[
        "start", "back", "home", "call", "call_again", "cancel", "hangup", "touch",
        "dismiss_notice", "callback", "callback_back", "pay_again", "ask_clerk",
    ]  # fmt: skip


class DismissPrompt(_Model):
    type: Literal["dismiss_prompt"]
    prompt_id: str


class Rate(_Model):
    type: Literal["rate"]
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


class IdentityCommand(_Model):
    """Start (or retry) the identity step, or put it away, during the call."""

    type: Literal["identity"]
    action: Literal["start", "cancel"]


class Capture(_Model):
    """Photograph (document camera) or scan a page for a material."""

    type: Literal["capture"]
    material_id: ServiceId
    device: Literal["camera", "scanner"]


class ImportUsb(_Model):
    """Send a file from the USB stick (one of ``DocumentsView.usb_files``) for a material."""

    type: Literal["import_usb"]
    material_id: ServiceId
    name: str = Field(min_length=1, max_length=255)


class DocumentsCommand(_Model):
    """``list_usb`` (show the stick's files), ``phone_link`` (show the QR code),
    ``close_documents`` (back to the checklist)."""

    type: Literal["list_usb", "phone_link", "close_documents"]


class Pen(_Model):
    x: float = Field(ge=0, le=10_000)
    y: float = Field(ge=0, le=10_000)
    t: float = Field(ge=0, le=3_600_000)
    p: float = Field(default=0.5, ge=0, le=1)


class PenStroke(_Model):
    points: list[Pen] = Field(max_length=5000)


class SignatureInk(_Model):
    """Strokes so far (``signature_ink``, for the clerk's live view) or the finished
    signature (``submit_signature``) on a canvas of ``width`` x ``height`` pixels."""

    type: Literal["signature_ink", "submit_signature"]
    width: float = Field(gt=0, le=10_000)
    height: float = Field(gt=0, le=10_000)
    strokes: list[PenStroke] = Field(max_length=500)


class LookUp(_Model):
    """On RESULT: find an application by number, after the ID re-check with the kiosk's reader
    (the document number is read, never typed)."""

    type: Literal["look_up"]
    acceptance_number: str = Field(min_length=1, max_length=40)


class LeaveNumber(_Model):
    """On CALLBACK: stop waiting and be called back at ``phone`` (local to ``region``, or
    with a + country code)."""

    type: Literal["leave_number"]
    phone: str = Field(max_length=32)
    region: Literal["HK", "MO", "CN"]


class OpenResult(_Model):
    """From the start screen: print a result by acceptance number."""

    type: Literal["open_result"]


class CheckInAppointment(_Model):
    """On APPOINTMENT: check in the booking ``number`` as typed on the pad."""

    type: Literal["check_in"]
    number: str = Field(max_length=40)


class AppointmentCommand(_Model):
    """``open`` (from the start screen), ``scan`` (read the QR code on the scanner),
    ``walk_in`` (late: join the queue without the priority)."""

    type: Literal["appointment"]
    action: Literal["open", "scan", "walk_in"]


class ComplaintCommand(_Model):
    """``complain`` (from the rating or thank-you screen: open the complaint form),
    ``complaint_status`` (from the start screen: look a complaint up)."""

    type: Literal["complain", "complaint_status"]


class SendComplaint(_Model):
    """On COMPLAINT: file it (the server checks the text's length and the phone number)."""

    type: Literal["send_complaint"]
    # checked by the kiosk, so that none chosen is said in a sentence, not refused as malformed
    category: str = Field(default="", max_length=32)
    text: str = Field(max_length=4000)
    phone: str = Field(default="", max_length=32)
    region: Literal["HK", "MO", "CN"] = "HK"


class FollowCommand(_Model):
    """``open`` (from the start screen), ``look_up`` (the number typed; the ID is re-checked
    with the kiosk's reader and camera), ``scan`` a page of / ``finish`` ``material_id``."""

    type: Literal["follow"]
    action: Literal["open", "look_up", "scan", "finish"]
    acceptance_number: str = Field(default="", max_length=40)
    material_id: str = Field(default="", max_length=64)


class CheckComplaint(_Model):
    """On COMPLAINT_STATUS: look a complaint up by number and access code."""

    type: Literal["check_complaint"]
    number: str = Field(max_length=40)
    access_code: str = Field(max_length=20)


class EidCommand(_Model):
    """In the call: ``start`` (show the QR code of ``provider``) or ``close`` the e-ID card."""

    type: Literal["eid"]
    action: Literal["start", "close"]
    provider: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")


UiCommand = Annotated[
    SetLanguage
    | SetCareMode
    | Browse
    | ChooseService
    | SimpleCommand
    | DismissPrompt
    | Rate
    | IdentityCommand
    | EidCommand
    | Capture
    | ImportUsb
    | DocumentsCommand
    | SignatureInk
    | LookUp
    | LeaveNumber
    | OpenResult
    | CheckInAppointment
    | AppointmentCommand
    | ComplaintCommand
    | SendComplaint
    | CheckComplaint
    | FollowCommand,
    Field(discriminator="type"),
]
