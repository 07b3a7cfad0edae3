"""The kiosk's state machine: which screen the applicant sees, driven by touches and the call.

The controller owns the :class:`TerminalClient` and one :class:`KioskView`. Touches arrive
as :data:`UiCommand` (through :mod:`terminal_client.kiosk.server`); the call's progress
arrives through the client's callbacks. Each change is pushed whole to every subscribed page.

Screens (``messages.Screen``) move only along :data:`~terminal_client.kiosk.screens.SCREEN_TRANSITIONS`::

    OFFLINE -> LANGUAGE -> SERVICES -> MATERIALS -> QUEUE -> CALL -> ENDED -> THANKS
                   ^__________ home / idle / after THANKS: everything entered is forgotten
    CALL -> INTERRUPTED -> QUEUE (call again, at the front: ``recall_of``) or LANGUAGE
    ENDED / THANKS -> COMPLAINT -> LANGUAGE;  LANGUAGE -> COMPLAINT_STATUS -> LANGUAGE

Idle: after ``idle_timeout_s`` without a touch the page warns for ``idle_warning_s``, then the
kiosk resets. Never while waiting in the queue or in a call: an applicant may sit still for
many minutes there, and losing their place would be worse than a clerk finding nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from media.sinks import FrameListener
from media.sources import LocalMedia
from signaling.appointment_messages import CheckedIn
from signaling.catalogue import Catalogue
from signaling.directions import KioskCatalogue
from signaling.logs import context_log
from signaling.messages import (
    NAMESPACE_TERMINAL,
    AppointmentDue,
    CallbackCreated,
    CallbackRegion,
    EidStatus,
    ErrorEvent,
    Event,
    IdentityUpdated,
    KioskDevices,
    Language,
    RequestCallback,
    SupervisionNotice,
)
from signaling.messages import Prompt as WirePrompt
from storage.callbacks import InvalidPhone, parse_phone
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.errors import (
    CatalogueUnavailable,
    CommandRefused,
    PrinterError,
    ScreenTransitionError,
    ServiceRefused,
    TerminalError,
)
from terminal_client.kiosk.appointment_step import KioskAppointment
from terminal_client.kiosk.complaints_ui import KioskComplaints
from terminal_client.kiosk.documents_ui import DocumentDevices, DocumentsScreen
from terminal_client.kiosk.eid_ui import KioskEid, spoken
from terminal_client.kiosk.feed import Feed, Subscription
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.kiosk.idle import IdleTimer
from terminal_client.kiosk.messages import (
    AppointmentCommand,
    Browse,
    CallbackView,
    CallView,
    Capture,
    CheckComplaint,
    CheckInAppointment,
    ChooseService,
    ComplaintCommand,
    DismissPrompt,
    DocumentsCommand,
    EidCommand,
    FollowCommand,
    HelloMessage,
    IdentityCommand,
    ImportUsb,
    KioskView,
    LeaveNumber,
    LookUp,
    Notice,
    OpenResult,
    Prompt,
    QueueView,
    Rate,
    Screen,
    SendComplaint,
    SetCareMode,
    SetLanguage,
    SignatureInk,
    SimpleCommand,
    SupervisionView,
    TransferView,
    UiCommand,
    ViewMessage,
)
from terminal_client.kiosk.screens import (
    IDLE_SCREENS,
    SCREEN_TRANSITIONS,
    Entered,
    KioskSettings,
)
from terminal_client.kiosk.self_service_ui import IdentityRunner, KioskSelfService
from terminal_client.kiosk.signing import KioskSigning, RecheckRunner
from terminal_client.kiosk.to_follow_ui import KioskFollow
from terminal_client.kiosk.translations import Translations
from terminal_client.kiosk.tts import Speech
from terminal_client.kiosk.voice import Voice
from terminal_client.printer import Printer, PrintJob, Status
from terminal_client.self_service import SelfServiceClient
from terminal_client.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# a rating this low opens the complaint form at once
LOW_RATING = 2
COMPLAINT_SCREENS = (Screen.COMPLAINT, Screen.COMPLAINT_STATUS)


class KioskController:
    """One kiosk: the applicant's screens on top of a :class:`TerminalClient`."""

    def __init__(
        self,
        server_url: str,
        token: str,
        media_factory: Callable[[], LocalMedia],
        translations: Translations,
        speech: Speech | None = None,
        settings: KioskSettings | None = None,
        name: str = "kiosk",
        on_video_frame: FrameListener | None = None,
        on_audio_frame: FrameListener | None = None,
        serves_media: bool = False,
        identity: KioskIdentity | None = None,
        documents: DocumentDevices | None = None,
        printer: Printer | None = None,
        print_dir: Path | None = None,
        recheck: RecheckRunner | None = None,
        recording_dir: Path | None = None,
        self_identity: IdentityRunner | None = None,
    ) -> None:
        self.settings = settings or KioskSettings()
        # the identity step (step 3), when this kiosk has an ID reader
        self.identity = identity
        self._identity_speech = ""
        if identity is not None:
            identity.on_change = self._identity_changed
        # True when the page server also serves the clerk's media (/media/video, /media/audio)
        self.serves_media = serves_media
        self.voice = Voice(speech, translations)
        self.name = name
        self.client = TerminalClient(
            server_url, token, media_factory, name=name,
            on_change=self._client_changed, on_prompt=self._client_prompt,
            on_error=self._client_error,
            on_video_frame=on_video_frame, on_audio_frame=on_audio_frame,
            document_track=documents.camera.track if documents and documents.camera else None,
            recording_dir=recording_dir,
        )  # fmt: skip
        # the clerk confirmed the identity after a failed check: the screen must say so
        self.client.sio.on(
            Event.IDENTITY.value, self._identity_updated, namespace=NAMESPACE_TERMINAL
        )
        # step 4: the checklist and the document devices, on the call screen
        self.documents = (
            DocumentsScreen(self.client, documents, self._publish) if documents else None
        )
        # steps 5 and 7: the form to sign, the receipt, print my result (terminal_client.printer)
        self.signing = KioskSigning(
            self.client, server_url, token, publish=self._publish, notice=self._paper_notice,
            spawn=self._spawn, printer=printer, print_dir=print_dir, recheck=recheck,
        )  # fmt: skip
        # a complaint after the session, and a complaint's status (signaling.complaints)
        self.complaints = KioskComplaints(
            server_url, token, http=self._session, queue=self.signing.queue,
            publish=self._publish, spawn=self._spawn,
        )  # fmt: skip
        self.signing.also_printed = self.complaints.printed
        # services without a clerk (terminal_client/kiosk/self_service_ui.py)
        # step 3 by e-ID on the applicant's phone (terminal_client/kiosk/eid_ui.py)
        self.eid = KioskEid(server_url, token, self._session, self._eid_changed)
        self.client.sio.on(Event.EID.value, self._eid_status, namespace=NAMESPACE_TERMINAL)
        self.self_service = KioskSelfService(
            SelfServiceClient(server_url, token, self.signing.paperwork), self_identity,
            publish=self._publish, spawn=self._spawn, eid=self.eid,
        )  # fmt: skip
        self.signing.also_printed = self._printed_elsewhere
        self.catalogue: Catalogue | None = None
        self.screen = Screen.OFFLINE
        self.entered = Entered(self.settings.default_language)
        self.idle_warning_s: int | None = None
        self.speech_url: str | None = None
        self._joining = False  # request_service sent, no answer yet
        self._cancel_requested = False
        self._feed = Feed()
        self._last_view: KioskView | None = None
        self._idle = IdleTimer(
            self.settings.idle_timeout_s, self.settings.idle_warning_s,
            applies=self._idle_applies, on_warning=self._idle_warning, on_expired=self._reset,
        )  # fmt: skip
        self._disconnected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thanks_task: asyncio.Task[None] | None = None
        # the CALLBACK screen's state (None elsewhere)
        self.callback: CallbackView | None = None
        self._http: aiohttp.ClientSession | None = None
        self._closing = False
        # "I have an appointment": the APPOINTMENT screen's state; the early arrival's kiosk
        # is told when the slot begins
        self.appointment = KioskAppointment(
            server_url, token, self._session, documents.scanner if documents else None,
            self._publish,
        )  # fmt: skip
        self.client.sio.on(
            Event.APPOINTMENT_DUE.value, self._appointment_due, namespace=NAMESPACE_TERMINAL
        )
        # bring a material to follow (容缺受理), with the reprint's ID re-check
        self.follow = KioskFollow(
            server_url, token, name=name, scanner=documents.scanner if documents else None,
            recheck=recheck, language=lambda: self.entered.language, publish=self._publish,
            spawn=self._spawn,
        )  # fmt: skip

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """Connect (retrying in the background) and run the idle timer."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._spawn(self._keep_connected())
        self._spawn(self._idle.run())
        await self.signing.start()

    async def close(self) -> None:
        """Stop the background tasks and disconnect; the server ends any call in progress."""
        self._closing = True
        await cancel_and_wait(self._tasks)
        if self.identity is not None:
            await self.identity.close()
        if self.documents is not None:
            await self.documents.close()
        await self.self_service.close()
        await self.signing.close()
        await self.client.close()
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> KioskController:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A page's feed: the hello and the current view at once, then every change."""
        subscription = Subscription()
        subscription.put(self._hello())
        subscription.put(ViewMessage(view=self.view()))
        self._feed.add(subscription)
        try:
            yield subscription
        finally:
            self._feed.remove(subscription)

    # ------------------------------------------------------------------ the view

    def view(self) -> KioskView:
        """What the page shows now."""
        entered, client = self.entered, self.client
        queue = call = transfer = None
        if self.screen == Screen.QUEUE and client.position is not None and not self._joining:
            queue = QueueView(
                position=client.position,
                estimated_wait_s=client.estimated_wait_s,
                callback_offered=client.callback_offered,
            )
        if self.screen == Screen.QUEUE and client.transfer is not None:
            transfer = TransferView(
                department=client.transfer.department_name.get(entered.language),
                clerk=client.transfer.clerk_name,
            )
        if self.screen == Screen.CALL:
            call = CallView(
                clerk_name=client.clerk_name or "",
                department_id=client.department_id or "",
                step=client.step,
                connected=client.state == TerminalState.IN_CALL,
                reconnecting=client.media_broken,
                weak_connection=client.link.weak and not client.media_broken,
                on_hold=client.on_hold,
                supervision=_supervision_view(client.supervision),
            )
        return KioskView(
            screen=self.screen,
            language=entered.language,
            care_mode=entered.care_mode,
            service_id=entered.service_id,
            department_id=entered.department_id,
            search=entered.search,
            queue=queue,
            transfer=transfer,
            call=call,
            prompts=list(entered.prompts) if self.screen == Screen.CALL else [],
            session_id=entered.session_id,
            rated=entered.rated,
            notice=entered.notice,
            idle_warning_s=self.idle_warning_s,
            speech_url=self.speech_url,
            identity=(
                self.identity.view(entered.session_id)
                if self.identity is not None and self.screen == Screen.CALL
                else None
            ),
            eid=self.eid.view(self._eid_session()),
            documents=(
                self.documents.view() if self.documents and self.screen == Screen.CALL else None
            ),
            signing=self.signing.signing if self.screen == Screen.CALL else None,
            lookup=self.signing.lookup if self.screen == Screen.RESULT else None,
            callback=self.callback if self.screen == Screen.CALLBACK else None,
            appointment=self.appointment.view if self.screen == Screen.APPOINTMENT else None,
            complaint=(
                self.complaints.view(entered.language) if self.screen == Screen.COMPLAINT else None
            ),
            complaint_status=(
                self.complaints.status if self.screen == Screen.COMPLAINT_STATUS else None
            ),
            self_service=self.self_service.view if self.screen == Screen.SELF_SERVICE else None,
            follow=self.follow.view if self.screen == Screen.FOLLOW else None,
        )

    def _hello(self) -> HelloMessage:
        catalogue = self.catalogue.model_dump(mode="json", by_alias=True) if self.catalogue else {}
        return HelloMessage(
            catalogue=catalogue,
            idle_timeout_s=self.settings.idle_timeout_s,
            idle_warning_s=self.settings.idle_warning_s,
            media=self.serves_media,
            time_zone=self.catalogue.time_zone
            if isinstance(self.catalogue, KioskCatalogue)
            else None,
        )

    def _publish(self) -> None:
        view = self.view()
        if view == self._last_view:
            return
        self._last_view = view
        self._feed.send(ViewMessage(view=view))

    def _log(self) -> logging.LoggerAdapter[logging.Logger]:
        return context_log(log, self.entered.session_id, f"kiosk:{self.name}")

    def _go(self, screen: Screen, notice: Notice | None = None) -> None:
        """The one place the screen changes: checks the table, logs, speaks, publishes."""
        old = self.screen
        if screen != old:
            if screen not in SCREEN_TRANSITIONS[old]:
                raise ScreenTransitionError(f'the kiosk cannot go from "{old}" to "{screen}"')
            self.screen = screen
            self._log().info("screen %s -> %s", old, screen)
            self._idle.touch()  # the idle timer restarts on every new screen
            if self._thanks_task is not None and screen != Screen.THANKS:
                self._thanks_task.cancel()
                self._thanks_task = None
            if screen == Screen.THANKS:
                self._thanks_task = self._spawn(self._after_thanks())
        self.entered.notice = notice
        self.idle_warning_s = None
        self._speak_screen()
        self._publish()

    def _reset(self) -> None:
        """Back to the start, forgetting everything the applicant entered."""
        self._log().info("reset: back to the start, entered data cleared")
        self.entered = Entered(self.settings.default_language)
        self.signing.forget()
        self.complaints.forget()
        self.callback = None
        self.appointment.forget()
        self.self_service.forget()
        self.follow.forget()
        self._go(Screen.LANGUAGE)

    # ------------------------------------------------------------------ commands

    async def handle(self, command: UiCommand) -> None:
        """Apply one command from the page; raises :class:`CommandRefused` saying why not."""
        self._idle.touch()
        match command:
            case SetLanguage(language=language):
                self.entered.language = language
                self._speak_screen()
                self._publish()
            case SetCareMode(on=on):
                self.entered.care_mode = on
                self._speak_screen()
                self._publish()
            case Browse():
                self._browse(command)
            case ChooseService(service_id=service_id):
                self._choose(service_id)
            case DismissPrompt(prompt_id=prompt_id):
                self._dismiss_prompt(prompt_id)
            case Rate():
                await self._rate(command)
            case SimpleCommand(type=kind):
                await self._simple(kind)
            case IdentityCommand(action=action):
                await self._identity(action)
            case EidCommand():
                self._require("sign in with an e-ID", Screen.CALL, Screen.SELF_SERVICE)
                await self.eid.handle(command, self._eid_session(), self.entered.language)
            case Capture() | ImportUsb() | DocumentsCommand():
                self._require("hand over documents", Screen.CALL)
                if self.documents is None:
                    raise CommandRefused("this kiosk has no document devices")
                await self.documents.handle(command)
            case SignatureInk(type="signature_ink"):
                self._require("sign", Screen.CALL)
                await self.signing.ink(command)
            case SignatureInk(type="submit_signature"):
                self._require("sign", Screen.CALL)
                await self.signing.submit(command)
            case LeaveNumber():
                await self._leave_number(command)
            case OpenResult():
                self._require("look up a result", Screen.LANGUAGE)
                self.signing.open_lookup()
                self._go(Screen.RESULT)
            case LookUp(acceptance_number=number):
                self._require("look up a result", Screen.RESULT)
                self.signing.look_up(number)
            case AppointmentCommand(action=action):
                await self._appointment(action)
            case CheckInAppointment(number=number):
                self._require("check in an appointment", Screen.APPOINTMENT)
                self._checked_in(await self.appointment.check_in(number))
            case ComplaintCommand() | SendComplaint() | CheckComplaint():
                await self._complaint(command)
            case FollowCommand(action="open"):
                self._require("bring a missing material", Screen.LANGUAGE)
                self.follow.open()
                self._go(Screen.FOLLOW)
            case FollowCommand():
                self._require("bring a missing material", Screen.FOLLOW)
                await self.follow.handle(command)

    def _require(self, action: str, *screens: Screen) -> None:
        if self.screen not in screens:
            where = " or ".join(f'"{s}"' for s in screens)
            raise CommandRefused(
                f'cannot {action} on the "{self.screen}" screen; it is possible on {where}'
            )

    def _browse(self, command: Browse) -> None:
        self._require("browse services", Screen.SERVICES)
        catalogue = self._catalogue()
        department = command.department_id
        if department is not None and not any(d.id == department for d in catalogue.departments):
            raise CommandRefused(
                f"unknown department {department!r}; pick one of the catalogue's departments"
            )
        self.entered.department_id = department
        self.entered.search = command.search
        self._publish()

    def _choose(self, service_id: str) -> None:
        self._require("choose a service", Screen.SERVICES)
        service = next((s for s in self._catalogue().services if s.id == service_id), None)
        if service is None:
            raise CommandRefused(f"unknown service {service_id!r}; pick one shown on the screen")
        self.entered.service_id = service.id
        self.entered.department_id = service.department_id
        self._go(Screen.MATERIALS)

    def _dismiss_prompt(self, prompt_id: str) -> None:
        self._require("dismiss a prompt", Screen.CALL)
        prompts = [p for p in self.entered.prompts if p.id != prompt_id]
        if len(prompts) == len(self.entered.prompts):
            raise CommandRefused(f"no prompt {prompt_id!r} on the screen; it may be gone already")
        self.entered.prompts = prompts
        self._publish()

    async def _rate(self, command: Rate) -> None:
        self._require("rate the call", Screen.ENDED)
        session_id = self.entered.session_id
        if session_id is None or self.entered.rated:
            raise CommandRefused("this call has been rated already; press start again")
        await self.client.rate(session_id, command.rating, command.comment)
        self.entered.rated = True
        if command.rating <= LOW_RATING:
            # something went wrong for them: the complaint form at once, not "thank you"
            self.complaints.open(after_low_rating=True)
            self._go(Screen.COMPLAINT)
            return
        self._go(Screen.THANKS)

    async def _simple(self, kind: str) -> None:
        match kind:
            case "touch":
                pass  # the idle timer was reset above
            case "dismiss_notice":
                self.entered.notice = None
                self._publish()
            case "start":
                self._require("start", Screen.LANGUAGE)
                self._go(Screen.SERVICES)
            case "back":
                self._back()
            case "home":
                self._require("start again", Screen.SERVICES, Screen.MATERIALS, Screen.ENDED,
                              Screen.THANKS, Screen.LANGUAGE, Screen.RESULT,
                              Screen.INTERRUPTED, Screen.CALLBACK,
                              Screen.APPOINTMENT, Screen.SELF_SERVICE, Screen.FOLLOW,
                              *COMPLAINT_SCREENS)  # fmt: skip
                sending = self.complaints.complaint and self.complaints.complaint.state == "sending"
                if self.screen == Screen.COMPLAINT and sending:
                    raise CommandRefused("the complaint is being sent; wait for its number")
                if self.screen == Screen.CALLBACK and not self._callback_done():
                    raise CommandRefused("you are still in the queue: go back to it, or cancel")
                self._reset()
            case "call":
                self._call()
            case "call_again":
                self._call_again()
            case "cancel":
                await self._cancel()
            case "callback":
                self._open_callback()
            case "callback_back":
                self._require("go back to the queue", Screen.CALLBACK)
                if self._callback_done():
                    raise CommandRefused("the callback is stored; press Finish")
                self.callback = None
                self._go(Screen.QUEUE)
            case "hangup":
                self._require("hang up", Screen.CALL)
                await self.client.hangup()
            case "ask_clerk":
                self._ask_clerk()
            case "pay_again":
                self._require("pay", Screen.CALL, Screen.RESULT)
                await self.signing.pay_again()

    async def _identity(self, action: str) -> None:
        self._require("check your identity", Screen.CALL)
        if self.identity is None:
            raise CommandRefused("this kiosk has no ID document reader; the clerk will help you")
        session_id = self.entered.session_id
        if action == "start" and session_id is not None:
            self.identity.start(session_id)
        elif action == "cancel":
            await self.identity.stop()

    def _identity_changed(self) -> None:
        """The identity step moved on: in care mode its instruction becomes what is spoken."""
        view = (
            self.identity.view(self.entered.session_id)
            if self.identity is not None and self.screen == Screen.CALL
            else None
        )
        if view is not None and self.entered.care_mode:
            language = self.entered.language
            text = self.voice.identity_text(view, language)
            self._identity_speech = text
            self.speech_url = self.voice.cached_url(text, language)
            if self.speech_url is None:
                self._spawn(self._speak_identity_later(text, language))
        self._publish()

    def _eid_session(self) -> str | None:
        """The session an e-ID sign-in here is for: the call's, or the self-service one's."""
        if self.screen == Screen.CALL:
            return self.entered.session_id
        if self.screen == Screen.SELF_SERVICE:
            return self.self_service.session_id
        return None

    def _eid_changed(self) -> None:
        """The e-ID card moved on: in care mode its sentence becomes what is spoken."""
        view = self.eid.view(self._eid_session())
        if view is not None and self.entered.care_mode:
            language = self.entered.language
            text = spoken(view, language, self.voice.translations)
            self._identity_speech = text  # one instruction at a time, the newest
            self.speech_url = self.voice.cached_url(text, language)
            if self.speech_url is None:
                self._spawn(self._speak_identity_later(text, language))
        self._publish()

    async def _say_devices(self, session_id: str) -> None:
        """Tell the clerk's console what this kiosk has (it says what is missing)."""
        assert self._http is not None
        docs = self.documents.devices if self.documents is not None else None
        devices = KioskDevices(
            document_camera=docs is not None and docs.camera is not None,
            scanner=docs is not None and docs.scanner is not None,
            id_reader=self.identity is not None,
        )
        url = f"{self.client.server_url}/api/sessions/{session_id}/kiosk-devices"
        headers = {"Authorization": f"Bearer {self.client.token}"}
        try:
            async with self._http.post(url, json=devices.model_dump(), headers=headers) as r:
                if r.status != 201:
                    self._log().warning("devices not recorded: %s %s", r.status, await r.text())
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._log().warning("devices not recorded: %s", exc)

    async def _identity_updated(self, data: Any) -> None:
        try:
            notice = IdentityUpdated.model_validate(data)
        except ValidationError as exc:
            self._log().warning("identity notice not understood: %s", exc)
            return
        if (
            self.identity is not None
            and notice.status == "overridden"
            and notice.session_id == self.entered.session_id
        ):
            self._log().info("the clerk confirmed the applicant's identity")
            await self.identity.confirmed_by_clerk(notice.session_id)

    async def _speak_identity_later(self, text: str, language: Language) -> None:
        url = await self.voice.url(text, language)
        # the step may have moved on while this was spoken: only the newest instruction plays
        if url is not None and self.entered.care_mode and text == self._identity_speech:
            self.speech_url = url
            self._publish()

    def _back(self) -> None:
        self._require("go back", Screen.SERVICES, Screen.MATERIALS)
        entered = self.entered
        if self.screen == Screen.MATERIALS:
            entered.service_id = None
            self._go(Screen.SERVICES)
        elif entered.search or entered.department_id is not None:
            entered.search, entered.department_id = "", None
            self._publish()
        else:
            self._go(Screen.LANGUAGE)

    def _call(self) -> None:
        self._require("call a clerk", Screen.MATERIALS)
        service_id = self.entered.service_id
        if service_id is None:
            raise CommandRefused("choose a service before calling a clerk")
        service = next((s for s in self._catalogue().services if s.id == service_id), None)
        if service is not None and service.self_service is not None:
            # no clerk: the kiosk checks the identity and prints the department's document
            self._go(Screen.SELF_SERVICE)
            self.self_service.start(service_id, self.entered.language, self.entered.care_mode)
            return
        self._joining, self._cancel_requested = True, False
        self._go(Screen.QUEUE)
        self._spawn(self._join(service_id))

    def _ask_clerk(self) -> None:
        """The department failed or refused: a clerk's call that keeps the identity checked."""
        self._require("ask a clerk", Screen.SELF_SERVICE)
        service_id = self.entered.service_id
        handover = self.self_service.handed_over()
        if service_id is None or handover is None:
            raise CommandRefused("wait for the document; a clerk is offered if it cannot print")
        self._joining, self._cancel_requested = True, False
        self._go(Screen.QUEUE)
        self._spawn(self._join(service_id, handover_of=handover))

    def _printed_elsewhere(self, job: PrintJob, status: Status, error: PrinterError | None) -> None:
        if not self.self_service.printed(job, status, error):
            self.complaints.printed(job, status, error)

    def _call_again(self) -> None:
        """After a cut-off call: the same service again, asking for the front of the queue."""
        self._require("call again", Screen.INTERRUPTED)
        entered = self.entered
        if entered.service_id is None:
            raise CommandRefused("no service to call again for; press start again")
        recall_of = entered.recall_of
        entered.session_id, entered.prompts, entered.rated = None, [], False
        self.signing.forget()
        self._joining, self._cancel_requested = True, False
        self._go(Screen.QUEUE)
        self._spawn(self._join(entered.service_id, recall_of))

    async def _join(
        self,
        service_id: str,
        recall_of: str | None = None,
        appointment: str | None = None,
        handover_of: str | None = None,
    ) -> None:
        entered = self.entered
        try:
            session_id = await self.client.request_service(
                service_id, entered.language, entered.care_mode, recall_of=recall_of,
                appointment=appointment, handover_of=handover_of,
            )  # fmt: skip
        except TerminalError as exc:  # refused, no answer, or the connection dropped
            self._joining = False
            self._log().warning("could not queue: %s", exc.message)
            code = exc.reason_code if isinstance(exc, ServiceRefused) else exc.code
            if self.screen == Screen.QUEUE:
                self._go(Screen.MATERIALS, Notice(key=f"error.{code}", detail=exc.message))
            return
        self._joining = False
        entered.session_id = session_id
        entered.recall_of = None
        self._log().info(
            "queued for %s%s%s", service_id, " (care mode)" if entered.care_mode else "",
            f" again after the cut-off call {recall_of}" if recall_of else "",
        )  # fmt: skip
        if self._cancel_requested:
            await self._send_cancel()
        self._client_changed()  # the call may have moved on while we waited for the answer

    async def _cancel(self) -> None:
        self._require("leave the queue", Screen.QUEUE)
        self._cancel_requested = True
        if not self._joining:
            await self._send_cancel()
        # the screen changes when the server confirms: a clerk may have answered meanwhile

    async def _send_cancel(self) -> None:
        try:
            await self.client.cancel()
        except TerminalError as exc:
            self._log().warning("cancel not sent: %s", exc.message)

    def _session(self) -> aiohttp.ClientSession:
        """The kiosk's HTTP session to the server (appointments, complaints)."""
        assert self._http is not None, "the kiosk is not started"
        return self._http

    # ------------------------------------------------------------------ appointments

    async def _appointment(self, action: str) -> None:
        if action == "open":
            self._require("check in an appointment", Screen.LANGUAGE)
            self.appointment.open()
            self._go(Screen.APPOINTMENT)
            return
        self._require("check in an appointment", Screen.APPOINTMENT)
        view = self.appointment.view
        if action == "scan":
            if view is None or view.state != "enter":
                raise CommandRefused("the booking is being checked already")
            number = await self.appointment.scan()
            if number is not None and self.screen == Screen.APPOINTMENT:
                self._checked_in(await self.appointment.check_in(number))
        elif action == "walk_in":
            if view is None or view.state != "late":
                raise CommandRefused("only a late arrival joins the queue as a walk-in from here")
            self._join_booked()

    def _checked_in(self, done: CheckedIn | None) -> None:
        """After the server's answer: queue now (on time), or stay to wait or hear why not."""
        if done is not None and done.outcome == "now" and self.screen == Screen.APPOINTMENT:
            self._join_booked()

    def _join_booked(self) -> None:
        """Queue for the booking's service with its number (priority, unless late)."""
        view = self.appointment.view
        assert view is not None and view.number is not None and view.service_id is not None
        service = next((s for s in self._catalogue().services if s.id == view.service_id), None)
        self.entered.service_id = view.service_id
        self.entered.department_id = service.department_id if service else None
        self._joining, self._cancel_requested = True, False
        self._log().info("appointment %s: joining the queue", view.number)
        self._go(Screen.QUEUE)
        self._spawn(self._join(view.service_id, appointment=view.number))

    async def _eid_status(self, data: Any) -> None:
        """The server says what became of the e-ID sign-in shown on this kiosk."""
        try:
            status = EidStatus.model_validate(data)
        except ValidationError as exc:
            self._log().warning("e-ID notice not understood: %s", exc)
            return
        self.eid.on_status(status)
        if status.state == "finished":
            self.self_service.eid_finished(status.session_id, status.assurance)
        if status.state == "finished" and self.identity is not None and self.identity.active:
            # proven by e-ID: the card reader's instruction must not go on asking for a card
            self._spawn(self.identity.stop())

    async def _appointment_due(self, data: Any) -> None:
        """The server says an early arrival's slot has begun: queue them now."""
        try:
            due = AppointmentDue.model_validate(data)
        except ValidationError as exc:
            self._log().warning("appointment notice not understood: %s", exc)
            return
        view = self.appointment.view
        if (
            self.screen == Screen.APPOINTMENT
            and view is not None
            and view.state == "waiting"
            and view.number == due.number
        ):
            self._join_booked()

    # ------------------------------------------------------------------ callbacks

    def _callback_done(self) -> bool:
        return self.callback is not None and self.callback.state == "done"

    def _open_callback(self) -> None:
        self._require("leave a phone number", Screen.QUEUE)
        if self._joining or self.entered.session_id is None or not self.client.callback_offered:
            raise CommandRefused("a callback is offered only while you wait a long time")
        self.callback = CallbackView(state="enter")
        self._go(Screen.CALLBACK)

    async def _leave_number(self, command: LeaveNumber) -> None:
        """Check the number here (the applicant's words in their language at once), then the
        server ends the wait and stores the callback; the reference is shown."""
        self._require("leave a phone number", Screen.CALLBACK)
        if self.callback is None or self.callback.state != "enter":
            raise CommandRefused("the phone number is already being sent")
        session_id = self.entered.session_id
        if session_id is None:
            raise CommandRefused("you are no longer in the queue")
        try:
            parse_phone(command.phone, command.region)
        except InvalidPhone as exc:
            self._callback_error(command.region, f"callback.error.{exc.reason}", exc.message)
            return
        self.callback = CallbackView(state="sending", region=command.region)
        self._publish()
        assert self._http is not None
        body = RequestCallback(session_id=session_id, phone=command.phone, region=command.region)
        url = f"{self.client.server_url}/api/callbacks"
        headers = {"Authorization": f"Bearer {self.client.token}"}
        try:
            async with self._http.post(url, data=body.model_dump_json(), headers=headers) as r:
                text = await r.text()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._log().warning("callback not sent: %s", exc)
            self._callback_error(command.region, "callback.error.unreachable", "")
            return
        if status != 201:
            try:
                refusal = ErrorEvent.model_validate_json(text)
            except ValidationError:
                refusal = ErrorEvent(code="error", message=text[:200])
            self._log().warning("callback refused: %s %s", status, refusal.code)
            key = (
                "callback.error.invalid"
                if refusal.code == "invalid_phone"
                else ("callback.error.refused")
            )
            self._callback_error(command.region, key, refusal.message)
            return
        created = CallbackCreated.model_validate_json(text)
        self._log().info("callback %s left: back to the start later", created.reference)
        if self.screen != Screen.CALLBACK:
            return  # the kiosk went offline meanwhile; the callback is stored all the same
        self.callback = CallbackView(
            state="done", region=command.region, reference=created.reference,
            expect_within_s=created.expect_within_s,
        )  # fmt: skip
        self.entered.session_id = None
        self._publish()
        self._spawn(self._after_callback(created.reference))

    def _callback_error(self, region: CallbackRegion, key: str, detail: str) -> None:
        if self.screen != Screen.CALLBACK:
            return
        self.callback = CallbackView(
            state="enter", region=region, error_key=key, error_detail=detail
        )
        self._publish()

    async def _after_callback(self, reference: str) -> None:
        await asyncio.sleep(self.settings.callback_done_s)
        done = self.callback
        if self.screen == Screen.CALLBACK and done is not None and done.reference == reference:
            self._reset()

    # ------------------------------------------------------------------ complaints

    async def _complaint(self, command: ComplaintCommand | SendComplaint | CheckComplaint) -> None:
        match command:
            case ComplaintCommand(type="complain"):
                self._require("make a complaint", Screen.ENDED, Screen.THANKS)
                if self.entered.session_id is None:
                    raise CommandRefused(
                        "there is no session to complain about; ask at the counter"
                    )
                self.complaints.open(after_low_rating=False)
                self._go(Screen.COMPLAINT)
            case ComplaintCommand(type="complaint_status"):
                self._require("check a complaint", Screen.LANGUAGE)
                self.complaints.open_status()
                self._go(Screen.COMPLAINT_STATUS)
            case SendComplaint():
                self._require("send a complaint", Screen.COMPLAINT)
                if self.complaints.busy() or self.entered.session_id is None:
                    raise CommandRefused("this complaint is sent already; press Finish")
                await self.complaints.send(command, self.entered.session_id, self.entered.language)
            case CheckComplaint():
                self._require("check a complaint", Screen.COMPLAINT_STATUS)
                await self.complaints.check(command, self.entered.language)

    # ------------------------------------------------------------------ the call

    def _client_changed(self) -> None:
        """The client's state or details changed: follow it on screen."""
        if self._closing:
            return
        state = self.client.state
        if state == TerminalState.DISCONNECTED:
            self._disconnected.set()
            if self.screen == Screen.CALL:
                # the server went away mid-call: once it is back, offer to call again
                self.entered.recall_of = self.entered.session_id
            if self.screen != Screen.OFFLINE:
                self._go(Screen.OFFLINE)
            return
        if state in (TerminalState.CONNECTING, TerminalState.IN_CALL):
            if self.screen == Screen.CALLBACK and not self._callback_done():
                # a clerk answered while the applicant typed a number: the call it is
                self.callback = None
                self._go(Screen.QUEUE)
            if self.screen == Screen.QUEUE:
                self.entered.session_id = self.client.session_id
                if self.documents is not None:
                    self.documents.call_started()
                if self.client.session_id is not None:
                    self._spawn(self._say_devices(self.client.session_id))
                self._go(Screen.CALL)
            elif self.screen != Screen.CALL:
                # only reachable through a bug; a call nobody sees must not stay open
                self._log().error('a call started on the "%s" screen; hanging up', self.screen)
                self._spawn(self._hangup_unseen())
        elif state == TerminalState.ENDED:
            self._call_ended()
        elif self.screen == Screen.CALL and self.client.transfer is not None:
            # handed on to another clerk: back to waiting (the screen says to whom)
            self._go(Screen.QUEUE)
        if self.screen == Screen.CALL:
            self._spawn(self.eid.follow_step(self.entered.session_id, self.client.step))
        else:
            self.eid.forget()
        if self.identity is not None:
            if self.screen == Screen.CALL:
                self.identity.follow_step(self.entered.session_id, self.client.step)
            elif self.identity.active:
                self._spawn(self.identity.stop())
        self._publish()

    def _call_ended(self) -> None:
        if self.screen == Screen.CALL:
            reason = self.client.end_reason or ""
            if reason in ("applicant_hangup", "clerk_hangup", "hangup"):
                self._go(Screen.ENDED)
            else:
                # cut off (a lost connection, a clerk gone): not "how was our service?" but a
                # way straight back to a clerk, at the front of the queue
                self.entered.recall_of = self.entered.session_id
                self._go(Screen.INTERRUPTED)
        elif self.screen == Screen.CALLBACK:
            if self.callback is None or self.callback.state == "enter":
                # the wait ended otherwise (the server's doing) while the pad was open
                self.callback = None
                self.entered.session_id = None
                self._go(Screen.MATERIALS, Notice(key="notice.queue_ended"))
            # sending or done: the end is the callback's own
        elif self.screen == Screen.QUEUE and not self._joining:
            cancelled = self._cancel_requested
            self._cancel_requested = False
            self.entered.session_id = None
            self._go(Screen.MATERIALS, None if cancelled else Notice(key="notice.queue_ended"))

    async def _hangup_unseen(self) -> None:
        with contextlib.suppress(TerminalError):
            await self.client.hangup("kiosk_not_in_call_screen")

    def _client_prompt(self, wire: WirePrompt) -> None:
        prompt = Prompt(id=wire.id, kind=wire.kind, text=wire.text, items=list(wire.items))
        keep = self.settings.max_prompts - 1
        self.entered.prompts = [*self.entered.prompts[-keep:], prompt] if keep else [prompt]
        if self.entered.care_mode:
            self._spawn(self._speak_prompt(prompt, self.entered.language))

    def _paper_notice(self, notice: Notice | None) -> None:
        """A refused signature or reprint, or a printer problem: say it on screen."""
        self.entered.notice = notice
        self._publish()

    def _client_error(self, error: ErrorEvent) -> None:
        # request_service refusals are handled by _join, a refused cancel means the call was
        # answered meanwhile; a refused rating must not bother someone already leaving
        if error.event in ("request_service", "cancel", "rate", None):
            return
        self.entered.notice = Notice(key=f"error.{error.code}", detail=error.message)
        self._publish()

    # ------------------------------------------------------------------ speech

    def _speak_screen(self) -> None:
        """In care mode, say this screen's main instruction in the chosen language."""
        self.speech_url = None
        if not self.entered.care_mode:
            return
        language, screen = self.entered.language, self.screen
        text = self.voice.screen_text(screen, language)
        self.speech_url = self.voice.cached_url(text, language)
        if self.speech_url is None:
            self._spawn(self._speak_screen_later(text, language, screen))

    async def _speak_screen_later(self, text: str, language: Language, screen: Screen) -> None:
        url = await self.voice.url(text, language)
        still = (self.screen, self.entered.language, self.entered.care_mode)
        if url is not None and still == (screen, language, True):
            self.speech_url = url
            self._publish()

    async def _speak_prompt(self, prompt: Prompt, language: Language) -> None:
        url = await self.voice.url(self.voice.prompt_text(prompt, language), language)
        if url is None:
            return
        self.entered.prompts = [
            p.model_copy(update={"audio_url": url}) if p.id == prompt.id else p
            for p in self.entered.prompts
        ]
        self._publish()

    # ------------------------------------------------------------------ background

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log().error("kiosk task failed: %r", exc, exc_info=exc)

    def _catalogue(self) -> Catalogue:
        if self.catalogue is None:
            raise CommandRefused("the service catalogue is not loaded yet; wait for the kiosk")
        return self.catalogue

    async def _load_catalogue(self) -> None:
        assert self._http is not None
        # the kiosk's own catalogue: what its place on the map serves (signaling/directions.py)
        url = f"{self.client.server_url}/api/kiosk/catalogue"
        headers = {"Authorization": f"Bearer {self.client.token}"}
        try:
            async with self._http.get(url, headers=headers) as response:
                response.raise_for_status()
                catalogue = KioskCatalogue.model_validate(await response.json())
        except (aiohttp.ClientError, TimeoutError, ValueError, ValidationError) as exc:
            raise CatalogueUnavailable(
                f"cannot load the service catalogue from {url}: {exc}; is the server running?"
            ) from exc
        if catalogue != self.catalogue:
            self.catalogue = catalogue
            self._feed.send(self._hello())

    async def _keep_connected(self) -> None:
        """Connect, and after every drop reconnect with backoff, showing OFFLINE meanwhile."""
        delay = self.settings.reconnect_min_s
        last_failure = ""
        while True:
            if self.client.state != TerminalState.DISCONNECTED:
                self._disconnected.clear()
                await self._disconnected.wait()
                # a pause before reconnecting: the old connection is still closing, and a
                # server that just dropped everyone should not be hit by every kiosk at once
                await asyncio.sleep(delay)
                continue
            try:
                await self._load_catalogue()
                await self.client.connect()
            except TerminalError as exc:
                # say it once per cause, not on every retry of a long outage
                level = logging.DEBUG if exc.message == last_failure else logging.WARNING
                last_failure = exc.message
                self._log().log(level, "offline: %s; retrying in %g s", exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_s)
                continue
            if self._closing:
                # close() cancelled us as the connection came up and the cancellation got
                # lost (see terminal_client.tasks): do not wait for a drop that never comes
                return
            delay, last_failure = self.settings.reconnect_min_s, ""
            self._joining = self._cancel_requested = False
            if self.entered.recall_of is not None and self.entered.service_id is not None:
                self._go(Screen.INTERRUPTED)
            else:
                self._reset()

    async def _after_thanks(self) -> None:
        await asyncio.sleep(self.settings.thanks_s)
        self._thanks_task = None
        if self.screen == Screen.THANKS:
            self._reset()

    def _idle_applies(self) -> bool:
        if self.screen not in IDLE_SCREENS:
            return False
        if self.screen == Screen.APPOINTMENT:
            # checked in and waiting for the slot: like the queue, never reset under them
            view = self.appointment.view
            return view is None or view.state in ("enter", "late")
        if self.screen == Screen.LANGUAGE:
            return self.entered != Entered(self.settings.default_language)
        return True

    def _idle_warning(self, seconds_left: int | None) -> None:
        if seconds_left is not None and self.idle_warning_s is None:
            self._log().info("idle on %s: warning", self.screen)
        self.idle_warning_s = seconds_left
        self._publish()


def _supervision_view(notice: SupervisionNotice | None) -> SupervisionView | None:
    """What the call screen says of a supervisor in the call (None: nothing)."""
    if notice is None or notice.state == "none":
        return None
    who = notice.supervisor
    return SupervisionView(
        state=notice.state, name=who.name if who else "", role=who.role if who else ""
    )
