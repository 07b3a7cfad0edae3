"""The public verification page: ``/verify/SESSION/DOCUMENT`` (the receipt's QR code).

Anyone holding a printed receipt or result can check it: the page verifies the stored
document's seal and the session's hash chain, and a PDF uploaded at ``/verify`` is compared
with the stored original. Nothing personal is shown: only the document kind, the acceptance
number and, per part, genuine or not (:mod:`signaling.paperwork.public_verify`); requests are
limited per address. ``/api/verify/...`` gives the same as JSON.
"""

from __future__ import annotations

import html
import math
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from signaling.guard import TARPIT
from signaling.keys import BLOBS, DATABASE, SETTINGS
from signaling.paperwork.messages import CheckLine, VerifyReport
from signaling.paperwork.public_verify import PublicVerifier
from signaling.throttle import RateLimit
from signaling.trail_check import TRAIL
from signaling.workers import WORKERS

VERIFY_LIMIT = web.AppKey("verify_limit", RateLimit)
VERIFIER = web.AppKey("public_verifier", PublicVerifier)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
Roots = Callable[[web.Application], list[bytes]]
_STYLE = (
    "body{font-family:'Noto Sans CJK SC',sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
    ".ok{color:#05620f}.bad{color:#a10000}li{margin:.4rem 0}code{word-break:break-all}"
)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        "<!doctype html><html lang='zh-Hans'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}"
        "<hr><form method='post' action='/verify' enctype='multipart/form-data'>"
        "<p>上传 PDF 核验 · Upload a PDF to check it: <input type='file' name='file'"
        " accept='application/pdf' data-testid='verify-file'> <button data-testid='verify-submit'>"
        "核验 / Verify</button></p></form></body></html>"
    )
    return web.Response(text=text, content_type="text/html", status=status, headers=HEADERS)


def _line(check: CheckLine) -> str:
    mark = "✔" if check.ok else "✘"
    css = "ok" if check.ok else "bad"
    return (
        f"<li class='{css}' data-testid='check-{html.escape(check.what)}'>{mark}"
        f" <b>{html.escape(check.what)}</b>: {html.escape(check.detail)}</li>"
    )


def _report_html(report: VerifyReport) -> str:
    verdict = (
        "<h1 class='ok' data-testid='verdict'>文件有效 · Document verified</h1>"
        if report.ok
        else "<h1 class='bad' data-testid='verdict'>核验未通过 · Verification failed</h1>"
    )
    about = ""
    if report.acceptance_number or report.kind:
        about = (
            f"<p>受理号 Acceptance number: <b data-testid='acceptance-number'>"
            f"{html.escape(report.acceptance_number or '—')}</b> · {html.escape(report.kind or '')}</p>"
        )
    lines = "".join(_line(c) for c in report.checks)
    return f"{verdict}{about}<ul>{lines}</ul>"


async def _stored_report(request: web.Request, roots: Roots) -> VerifyReport:
    session_id, doc_id = request.match_info["session_id"], request.match_info["doc_id"]
    return await request.app[VERIFIER].stored(session_id, doc_id, roots(request.app))


async def _throttled(request: web.Request) -> web.Response | None:
    """A 429 when this address has asked too often (checked before any work is done; held
    back a while, see :class:`~signaling.throttle.Tarpit`)."""
    wait = request.app[VERIFY_LIMIT].take(request.remote or "-")
    if wait <= 0:
        return None
    await request.app[TARPIT].hold(wait)
    response = _page(
        "核验 Verify",
        "<h1 class='bad'>请稍后再试 · Too many checks from this address; try again shortly</h1>",
        429,
    )
    response.headers["Retry-After"] = str(math.ceil(wait))
    # and close: the upload it came with is not read, not even to be thrown away
    response.force_close()
    return response


def setup_verify_page(app: web.Application, roots: Roots) -> None:
    """Mount ``/verify`` (upload), ``/verify/SESSION/DOC`` and ``/api/verify/SESSION/DOC``."""
    path = "{session_id:[0-9a-f]{32}}/{doc_id:[0-9a-f]{32}}"
    settings = app[SETTINGS]
    app[VERIFY_LIMIT] = RateLimit(settings.verify_per_minute, burst=5)

    async def verifier(app: web.Application) -> AsyncIterator[None]:
        app[VERIFIER] = PublicVerifier(app[DATABASE], app[BLOBS], app[TRAIL], app[WORKERS].public)
        yield

    app.cleanup_ctx.append(verifier)

    async def stored(request: web.Request) -> web.Response:
        if (refused := await _throttled(request)) is not None:
            return refused
        report = await _stored_report(request, roots)
        return _page("核验 Verify", _report_html(report), 200 if report.ok else 409)

    async def stored_json(request: web.Request) -> web.Response:
        if (refused := await _throttled(request)) is not None:
            return refused
        report = await _stored_report(request, roots)
        return web.json_response(report.model_dump(mode="json"), status=200 if report.ok else 409)

    async def form(request: web.Request) -> web.Response:
        return _page("核验 Verify", "<h1>核验文件 · Verify a document</h1>")

    async def upload(request: web.Request) -> web.Response:
        if (refused := await _throttled(request)) is not None:
            return refused
        data = b""
        # the body's length is bounded before it is read (signaling.guard: 10 MiB here)
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if getattr(part, "name", None) == "file":
                    data = await part.read(decode=False)  # type: ignore[union-attr]
        else:
            data = await request.read()
        if not data:
            return _page("核验 Verify", "<h1 class='bad'>没有文件 · No file was sent</h1>", 400)
        report = await request.app[VERIFIER].uploaded(data, roots(request.app))
        if request.headers.get("Accept", "").startswith("application/json"):
            return web.json_response(
                report.model_dump(mode="json"), status=200 if report.ok else 409
            )
        return _page("核验 Verify", _report_html(report), 200 if report.ok else 409)

    app.router.add_get(f"/verify/{path}", stored)
    app.router.add_get(f"/api/verify/{path}", stored_json)
    app.router.add_get("/verify", form)
    app.router.add_post("/verify", upload)
