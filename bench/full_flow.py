"""The seven-step counter flow, scripted, with a clerk in headless Chromium.

A server runs as its own process; the kiosk runs in this one: an aiortc peer whose camera
replays a face photo that blinks (640x480 at 15 fps, :mod:`media.face_camera`), the
identity step over a simulated chip reader holding a card made from another photo of the
same person (:mod:`media.face_samples`), the synthetic document camera, the paperwork
client and a spool-folder printer. Steps: service + call; identity (the clerk moves the
call to step 3, the card is read, the face matched while the applicant blinks); two
materials captured with the document camera and accepted by the clerk in the console; form
shown on the kiosk; signature (the clerk sees the ink); approve in the console; receipt and
result printed; hang up; and a reprint at another kiosk by acceptance number after that
kiosk's reader reads the card again and its camera matches the face. Prints the wall time
of each step, the total and this process's (the terminal's) CPU; the last line is JSON
with ``total_s`` and ``terminal_cpu_avg`` (cores, averaged over the whole flow).
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cv2.typing import MatLike
from playwright.async_api import Page

from bench.cli import bench_parser, parse, report
from bench.server import PASSWORD, bench_server, chromium
from media.document_camera import SyntheticDocumentCamera
from media.face_camera import ReplayTrack, blinking
from media.face_samples import load_photos
from media.faces import FaceEngine
from media.liveness import Action
from media.mrz import MrzFields, MrzFormat, compose_mrz
from media.sources import LocalMedia, SyntheticAudioTrack
from signaling.paperwork.messages import SignatureSubmission, Stroke
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.documents import KioskDocuments
from terminal_client.id_reader import CARD_FOLDER, SimulatedCardReader, write_card_from_photo
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter

STATE_IS = "() => document.querySelector('[data-testid=paper-state]').dataset.state === '{}'"
MATERIALS = ("business-licence", "legal-representative-id")
CARD = MrzFields(
    document_type="ID", issuing_state="HKG", document_number="M1234567", surname="CHAN",
    given_names="TAI MAN", nationality="CHN", birth_date="900101", sex="M",
    expiry_date="341231", optional_data="",
)  # fmt: skip

# the keys of the JSON line (tests/bench/test_bench_smoke.py checks them)
KEYS = ("steps", "total_s", "terminal_cpu_s", "terminal_cpu_avg")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def signature() -> list[Stroke]:
    def point(s: int, i: int) -> dict[str, float]:
        return {"x": 40 + s * 150 + i * 4, "y": 100 + ((i % 9) - 4) * 8, "t": s * 800 + i * 12}

    return [Stroke.model_validate({"points": [point(s, i) for i in range(30)]}) for s in range(3)]


@dataclass
class Applicant:
    """The applicant's chip card (a folder) and the frames their camera replays."""

    card: Path
    frames: list[MatLike]

    def camera(self) -> LocalMedia:
        return LocalMedia(ReplayTrack(self.frames, loop=True), SyntheticAudioTrack())


def applicant(folder: Path) -> Applicant:
    """A card made from one photo of the face set, a blinking camera from another one."""
    images = {p.name: p.image for p in load_photos()}
    engine = FaceEngine()
    card = write_card_from_photo(
        folder / "card", compose_mrz(MrzFormat.TD1, CARD), images["obama3.jpg"], engine
    )
    return Applicant(card, blinking(engine, images["obama.jpg"]))


def reader_with(card: Path, slot: Path) -> Callable[[FaceEngine, Any], SimulatedCardReader]:
    """A reader factory for the identity step whose slot holds ``card``."""
    slot.mkdir(parents=True, exist_ok=True)
    shutil.copytree(card, slot / CARD_FOLDER, dirs_exist_ok=True)
    return lambda _engine, _worker: SimulatedCardReader(slot, poll_s=0.02)


async def until(predicate: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the identity step has no event to wait on
            await asyncio.sleep(0.02)


async def sign_in(page: Page, url: str) -> None:
    await page.goto(url)
    await page.fill("[data-testid=login-username]", "bench")
    await page.fill("[data-testid=login-password]", PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_selector("[data-testid=clerk-state]")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")


async def flow(
    url: str, data_dir: Path, page: Page, token: str, token2: str, person: Applicant
) -> dict[str, float]:
    steps: dict[str, float] = {}

    async def step(name: str, work: Callable[[], Awaitable[Any]]) -> Any:
        start = time.monotonic()
        result = await work()
        steps[name] = round(time.monotonic() - start, 3)
        return result

    identity = KioskIdentity(
        reader_with(person.card, data_dir / "slot-1"), url, token, challenge=[Action.BLINK]
    )
    paper = SyntheticDocumentCamera()
    terminal = TerminalClient(
        url, token, lambda: identity.tap(person.camera()), document_track=paper.track,
        on_step=lambda n: identity.follow_step(terminal.session_id, n),
    )  # fmt: skip
    desk = KioskDocuments(terminal, camera=paper)
    queue = PrintQueue(SpoolPrinter(data_dir / "spool-1"), data_dir / "queue-1")
    kiosk = KioskPaperwork(url, token, queue)
    kiosk.attach(terminal)
    await queue.start()
    await terminal.connect()
    try:

        async def call() -> str:
            session_id = await terminal.request_service("tax-registration", "zh-Hant")
            await page.locator("[data-testid=accept-call]").click()
            await terminal.wait_for(TerminalState.IN_CALL, timeout=30)
            await terminal.video_in.first_frame.wait()
            return session_id

        session_id: str = await step("1-2 service and call", call)

        async def check_identity() -> None:
            await page.click("[data-testid=guide-step-3]")
            await until(lambda: (v := identity.view(session_id)) is not None and v.phase in ("done", "failed"), 90)  # fmt: skip
            view = identity.view(session_id)
            if view is None or view.phase != "done":
                raise RuntimeError(f"the identity check did not pass: {view}")

        await step("3 identity: card read, face, blink", check_identity)

        async def materials() -> None:
            await desk.refresh()
            for material in MATERIALS:
                await desk.capture(material, "camera")
                item = f"[data-testid=doc-item-{material}]"
                await page.wait_for_selector(f"{item}[data-status=received]")
                await page.click(f"[data-testid=doc-accepted-{material}]")
                await page.wait_for_selector(f"{item}[data-status=accepted]")

        await step("4 two materials captured, accepted", materials)

        async def form() -> None:
            await page.click("[data-testid=paper-form]")
            # a material the service lists is not in: the console asks once, a second press makes it
            if await page.evaluate(
                "() => !!document.querySelector('[data-key=\"paper.confirmMissing\"]')"
            ):
                await page.click("[data-testid=paper-form]")
            await kiosk.wait_for(lambda: bool(kiosk.sign_requests))
            await kiosk.fetch(kiosk.sign_requests[-1].form)

        await step("5a form shown on both sides", form)

        async def sign() -> tuple[str, Any]:
            drawn = signature()
            await kiosk.send_ink(session_id, 600, 200, drawn)
            request = kiosk.sign_requests[-1]
            body = SignatureSubmission(
                form_sha256=request.form.sha256, width=600, height=200, strokes=drawn
            )
            number, docs = await kiosk.sign(session_id, body)
            receipt = next(d for d in docs if d.kind == "receipt")
            await kiosk.print_document(session_id, receipt)
            await queue.wait_idle(30)
            return number, docs

        number, _ = await step("5b signature, seal, receipt printed", sign)

        async def decide() -> None:
            await page.wait_for_function(STATE_IS.format("submitted"))
            await page.fill("[data-testid=paper-reason]", "complete")
            await page.click("[data-testid=paper-decide]")
            await page.wait_for_function(STATE_IS.format("approved"))

        await step("6 approve in the console", decide)

        async def print_result() -> None:
            await page.click("[data-testid=paper-print-result]")
            await kiosk.wait_for(lambda: len(kiosk.jobs) == 2, 30)
            await queue.wait_idle(30)

        await step("7a result printed at the kiosk", print_result)

        async def hang_up() -> None:
            await terminal.hangup()
            await terminal.wait_for(TerminalState.ENDED)

        await step("hang up", hang_up)
    finally:
        await desk.close()
        await identity.close()
        await terminal.close()
        await queue.close()

    identity2 = KioskIdentity(
        reader_with(person.card, data_dir / "slot-2"), url, token2, challenge=[Action.BLINK]
    )
    queue2 = PrintQueue(SpoolPrinter(data_dir / "spool-2"), data_dir / "queue-2")
    other = KioskPaperwork(url, token2, queue2)
    await queue2.start()
    try:

        async def reprint() -> None:
            checked = await identity2.recheck(person.camera, lambda _progress: None)
            await other.reprint(checked.request(number))
            await queue2.wait_idle(30)

        await step("7b reprint: ID re-check, print", reprint)
    finally:
        await identity2.close()
        await queue2.close()
    return steps


async def main() -> dict[str, Any]:
    async with bench_server() as server, chromium() as browser:
        server.clerk("bench", "--department", "taxation")
        token = server.terminal("bench-kiosk")
        token2 = server.terminal("bench-kiosk-2")
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await sign_in(page, server.url)
        person = applicant(server.data)  # the test data, before the clock starts
        wall, cpu = time.monotonic(), cpu_s()
        steps = await flow(server.url, server.data, page, token, token2, person)
        total = time.monotonic() - wall
        used = cpu_s() - cpu
    return {
        "steps": steps,
        "total_s": round(total, 2),
        "terminal_cpu_s": round(used, 2),
        "terminal_cpu_avg": round(used / total, 3),
    }


if __name__ == "__main__":
    # the flow is one pass already (about 20 s): --smoke runs it as it is
    args = parse(bench_parser(__doc__), smoke={})
    out = asyncio.run(main())
    for name, seconds in out["steps"].items():
        print(f"  {name:<42} {seconds:7.3f} s")
    print(
        f"total {out['total_s']} s (target <= 60 s); terminal CPU {out['terminal_cpu_s']} s,"
        f" {out['terminal_cpu_avg']} cores on average (target <= 1)"
    )
    report(out, KEYS, args.smoke)
