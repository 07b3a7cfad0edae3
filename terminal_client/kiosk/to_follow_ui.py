"""The kiosk's FOLLOW screen: bring a material an application was accepted without (容缺受理).

The applicant types the acceptance number; the kiosk re-checks their ID exactly as for
printing a result (its reader, then the live face: the same runner as
:mod:`terminal_client.kiosk.signing`), asks the server what the application waits for, and
lists it. Each material is scanned page by page with the kiosk's scanner and finished;
the server records it supplied (:mod:`terminal_client.to_follow`). Owned by the
controller, which moves between screens; this keeps what the screen shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp

from media.errors import PageImageError
from signaling.messages import Language
from signaling.paperwork.follow_messages import FollowLookup
from storage.errors import VcounterError
from terminal_client.errors import (
    CommandRefused,
    DocumentError,
    DocumentUploadRefused,
    PaperworkRefused,
)
from terminal_client.identity import Progress
from terminal_client.kiosk.messages import FollowCommand, FollowItemView, FollowView
from terminal_client.kiosk.signing import RecheckRunner
from terminal_client.scanner import Scanner
from terminal_client.to_follow import FollowClient

log = logging.getLogger(__name__)

# refusals said beside the number (type it again) rather than as a failed check
NUMBER_CODES = ("bad_acceptance_number", "unknown_acceptance_number")
# refusals about the application with their own sentence (the rest are the ID re-check's)
FOLLOW_CODES = (
    *NUMBER_CODES, "nothing_to_follow", "material_lapsed", "not_ready", "rate_limited",
    "unauthorized",  # the ticket ran out: look it up again
)  # fmt: skip
RECHECK_PHASES = ("document", "reading", "face", "challenge")


class KioskFollow:
    """What the FOLLOW screen shows; ``publish`` redraws."""

    def __init__(
        self,
        server_url: str,
        token: str,
        *,
        name: str,
        scanner: Scanner | None,
        recheck: RecheckRunner | None,
        language: Callable[[], Language],
        publish: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        max_bytes: int = 1_500_000,
    ) -> None:
        self.client = FollowClient(server_url, token, name)
        self.scanner = scanner
        self.recheck = recheck
        self.language = language
        self.publish = publish
        self.spawn = spawn
        self.max_bytes = max_bytes
        self.view: FollowView | None = None
        self._found: FollowLookup | None = None
        self._pages: dict[str, int] = {}
        self._done: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def forget(self) -> None:
        """The kiosk reset: nothing of the last applicant stays (the reader and camera stop)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.view, self._found = None, None
        self._pages, self._done = {}, set()

    def open(self) -> None:
        self.forget()
        usable = self.recheck is not None and self.scanner is not None
        self.view = FollowView(
            state="enter" if usable else "unavailable", scanner=self.scanner is not None
        )

    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def handle(self, command: FollowCommand) -> None:
        """``look_up``, ``scan`` or ``finish``, each in the background (the screen follows)."""
        view = self.view
        if view is None or self.busy():
            raise CommandRefused("the kiosk is busy with the last step; follow the screen")
        if command.action == "look_up":
            if self.recheck is None or self.scanner is None:
                return
            self._task = self.spawn(self._look_up(self.recheck, command.acceptance_number))
            return
        found = self._found
        items = {i.material_id for i in (found.items if found else [])}
        if view.state != "list" or found is None or command.material_id not in items:
            raise CommandRefused("choose one of the materials listed first")
        if command.action == "scan":
            self._task = self.spawn(self._scan(found, command.material_id))
        elif command.action == "finish":
            self._task = self.spawn(self._finish(found, command.material_id))

    # ------------------------------------------------------------------ steps

    async def _look_up(self, recheck: RecheckRunner, number: str) -> None:
        def progress(p: Progress) -> None:
            if p.phase in RECHECK_PHASES:
                action = p.action.value if p.action is not None else None
                self._show(state=p.phase, acceptance_number=number, action=action)

        progress(Progress("document"))
        try:
            checked = await recheck(progress)
            self._show(state="checking", acceptance_number=number)
            found = await self.client.lookup(checked.request(number))
        except PaperworkRefused as exc:
            if exc.code in NUMBER_CODES:
                self._show(state="enter", acceptance_number=number,
                           error_key=f"follow.error.{exc.code}", error_detail=exc.message)  # fmt: skip
                return
            self._failed(number, exc.code, exc.message)
            return
        except VcounterError as exc:  # the reader, the document, the face, the camera
            self._failed(number, exc.code, exc.message)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed(number, "network", str(exc))
            return
        self._found = found
        log.info("follow %s: %d material(s) to bring", found.acceptance_number, len(found.items))
        self._list()

    async def _scan(self, found: FollowLookup, material_id: str) -> None:
        self._list(state="scanning")
        try:
            await self.client.scan(found, material_id, self.scanner, self.max_bytes)
        except (DocumentError, PageImageError, VcounterError) as exc:
            log.info("follow %s: scan of %s failed: %s", found.acceptance_number, material_id, exc)
            expired = isinstance(exc, DocumentUploadRefused) and exc.reason_code == "unauthorized"
            key = "follow.error.unauthorized" if expired else "follow.error.scan_failed"
            self._list(error_key=key, detail=str(exc))
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._list(error_key="reprint.error.network", detail=str(exc))
            return
        self._pages[material_id] = self._pages.get(material_id, 0) + 1
        self._list()

    async def _finish(self, found: FollowLookup, material_id: str) -> None:
        if not self._pages.get(material_id):
            self._list(error_key="follow.error.not_ready")
            return
        self._list(state="finishing")
        try:
            left = await self.client.finish(found, material_id)
        except PaperworkRefused as exc:
            key = f"follow.error.{exc.code}" if exc.code in FOLLOW_CODES else "follow.error.other"
            self._list(error_key=key, detail=exc.message)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._list(error_key="reprint.error.network", detail=str(exc))
            return
        self._done.add(material_id)
        if not left.items:
            self._list(state="done")
            return
        self._list()

    # ------------------------------------------------------------------ the view

    def _items(self) -> list[FollowItemView]:
        found, lang = self._found, self.language()
        return [
            FollowItemView(
                material_id=i.material_id, name=i.names.get(lang), due_on=i.due_on.isoformat(),
                pages=self._pages.get(i.material_id, 0), done=i.material_id in self._done,
            )
            for i in (found.items if found else [])
        ]  # fmt: skip

    def _list(self, state: str = "list", error_key: str | None = None, detail: str = "") -> None:
        found = self._found
        self._show(
            state=state, acceptance_number=found.acceptance_number if found else "",
            items=self._items(), error_key=error_key, error_detail=detail,
        )  # fmt: skip

    def _failed(self, number: str, code: str, detail: str) -> None:
        log.info("follow %s: refused (%s)", number, code)
        key = f"follow.error.{code}" if code in FOLLOW_CODES else f"reprint.error.{code}"
        self._show(state="failed", acceptance_number=number, error_key=key, error_detail=detail)

    def _show(self, **fields: Any) -> None:
        if self.view is None:
            return  # the applicant left meanwhile
        self.view = FollowView(scanner=self.scanner is not None, **fields)
        self.publish()
