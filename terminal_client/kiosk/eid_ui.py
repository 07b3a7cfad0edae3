"""The kiosk's e-ID card at step 3 (and at a self-service identity check): "Sign in with
智方便 / 一戶通" instead of the card reader.

The applicant taps a provider; the server (:mod:`signaling.eid.routes`) answers with a short
link shown as a QR code; the phone signs in at the provider; the server tells this kiosk
(``eid`` socket event, :class:`EidStatus`) when the phone opened the link and what became of
the sign-in. A refusal is shown with its sentence and the applicant may start again.
Owned by :class:`~terminal_client.kiosk.controller.KioskController`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp
from pydantic import ValidationError

from signaling.logs import context_log
from signaling.messages import EidLink, EidProviderInfo, EidStart, EidStatus, ErrorEvent, Language
from terminal_client.kiosk.messages import EidChoice, EidCommand, EidView
from terminal_client.kiosk.translations import Translations

log = logging.getLogger(__name__)

IDENTITY_STEP = 3
# refusals the page has a sentence for (eid.refused.<code>); others get eid.refused.other
KNOWN_REFUSALS = frozenset(
    {
        "eid_bad_issuer", "eid_bad_signature", "eid_expired_token", "eid_bad_nonce",
        "eid_denied", "eid_attempt_expired", "eid_session_ended", "eid_provider_unavailable",
        "eid_code_refused",
    }
)  # fmt: skip


def spoken(view: EidView, language: Language, translations: Translations) -> str:
    """The card's sentence as care mode speaks it: what to do now, or what went wrong."""
    lower = view.phase == "done" and view.assurance == "lower"
    lead = "eid.phase.done_lower" if lower else f"eid.phase.{view.phase}"
    parts = [translations.text(language, lead, minutes=round((view.expires_in_s or 0) / 60))]
    if view.error_key is not None:
        known = view.error_key in translations.catalogues[language]
        parts.append(translations.text(language, view.error_key if known else "eid.refused.other"))
    stop = " " if language == "en" else ""
    return stop.join(p.strip() for p in parts)


class KioskEid:
    """What the e-ID card shows; ``publish`` redraws the page."""

    def __init__(
        self,
        server_url: str,
        token: str,
        http: Callable[[], aiohttp.ClientSession],
        publish: Callable[[], None],
    ) -> None:
        self.server_url = server_url
        self.token = token
        self.http = http
        self.publish = publish
        self._providers: list[EidChoice] | None = None
        self._session_id: str | None = None
        self._last_step: tuple[str | None, int] = (None, 0)
        self._view: EidView | None = None
        self._attempt: str | None = None

    def view(self, session_id: str | None) -> EidView | None:
        """The card for ``session_id`` (None: not on screen, or no provider configured)."""
        if session_id is None or session_id != self._session_id:
            return None
        return self._view

    async def follow_step(self, session_id: str | None, step: int) -> None:
        """The call is at ``step``: moving to step 3 shows the card (again, if the clerk
        moves away and back)."""
        moved = (session_id, step) != self._last_step
        self._last_step = (session_id, step)
        if not (session_id and step == IDENTITY_STEP and moved):
            return
        if self._view is not None and self._view.phase == "done" and session_id == self._session_id:
            return  # signed in already: the card stays as it is
        providers = await self._load_providers()
        if not providers:
            return
        self._session_id, self._attempt = session_id, None
        self._view = EidView(phase="choose", providers=providers)
        self.publish()

    async def offer(self, session_id: str) -> bool:
        """Show the card for a session without a call (a self-service identity check);
        False when no provider is configured."""
        providers = await self._load_providers()
        if not providers:
            return False
        self._session_id, self._attempt = session_id, None
        self._view = EidView(phase="choose", providers=providers)
        self.publish()
        return True

    async def _load_providers(self) -> list[EidChoice]:
        if self._providers is None:
            url = f"{self.server_url}/api/eid/providers"
            try:
                async with self.http().get(url, headers=self._auth()) as r:
                    if r.status != 200:
                        log.warning("e-ID providers not given (%d)", r.status)
                        return []
                    infos = [EidProviderInfo.model_validate(p) for p in await r.json()]
            except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
                log.warning("e-ID providers not loaded: %s", exc)
                return []
            self._providers = [EidChoice(**i.model_dump()) for i in infos]
        return self._providers

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def handle(self, command: EidCommand, session_id: str | None, language: Language) -> None:
        """Start a sign-in with the chosen provider, or close the card."""
        if command.action == "close" or session_id is None:
            self._view = None
            self.publish()
            return
        providers = await self._load_providers()
        if command.provider not in {p.id for p in providers}:
            self._refused(providers, "eid.refused.other", f"no provider {command.provider!r}")
            return
        self._session_id = session_id
        self._view = EidView(phase="starting", providers=providers, provider=command.provider)
        self.publish()
        body = EidStart(provider=command.provider or "", language=language)
        url = f"{self.server_url}/api/sessions/{session_id}/eid"
        try:
            async with self.http().post(
                url,
                data=body.model_dump_json(),
                headers={**self._auth(), "Content-Type": "application/json"},
            ) as r:
                status, text = r.status, await r.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._refused(providers, "eid.refused.eid_provider_unavailable", str(exc))
            return
        if status != 201:
            try:
                refusal = ErrorEvent.model_validate_json(text)
            except ValidationError:
                refusal = ErrorEvent(code="error", message=text[:200])
            self._refused(providers, self._key(refusal.code), refusal.message)
            return
        link = EidLink.model_validate_json(text)
        self._attempt = link.attempt_id
        context_log(log, session_id, "kiosk").info("e-ID QR code shown (%s)", link.provider)
        self._view = EidView(
            phase="qr", providers=providers, provider=link.provider, qr=link.qr,
            expires_in_s=link.expires_in_s,
        )  # fmt: skip
        self.publish()

    def on_status(self, status: EidStatus) -> None:
        """The server says what became of the sign-in shown here."""
        view = self._view
        if (
            view is None
            or status.session_id != self._session_id
            or status.attempt_id != self._attempt
        ):
            return
        context_log(log, status.session_id, "kiosk").info("e-ID sign-in %s", status.state)
        if status.state == "opened":
            self._view = view.model_copy(update={"phase": "phone"})
        elif status.state == "finished":
            self._view = view.model_copy(
                update={"phase": "done", "qr": None, "assurance": status.assurance}
            )
        elif status.state in ("refused", "expired", "cancelled"):
            code = status.code or "eid_attempt_expired"
            self._view = view.model_copy(
                update={
                    "phase": "expired" if status.state == "expired" else "refused",
                    "qr": None,
                    "error_key": self._key(code),
                    "error_detail": status.message,
                }
            )
        self.publish()

    @staticmethod
    def _key(code: str) -> str:
        return f"eid.refused.{code}" if code in KNOWN_REFUSALS else "eid.refused.other"

    def _refused(self, providers: list[EidChoice], key: str, detail: str) -> None:
        self._view = EidView(
            phase="refused", providers=providers, error_key=key, error_detail=detail
        )
        self.publish()

    def forget(self) -> None:
        """The call ended: put the card away."""
        if self._view is None and self._session_id is None:
            return
        self._view, self._session_id, self._attempt = None, None, None
        self._last_step = (None, 0)
