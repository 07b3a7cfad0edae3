"""The public pages for phones and the hall: the upload page, the booking page, a complaint's
status and the service map. Static files from ``signaling/static`` under one strict policy:
scripts, styles and requests only from this server, no inline code, never framed."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
PUBLIC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PUBLIC_CSP, "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
}  # fmt: skip
ASSET_HEADERS = {"Content-Security-Policy": PUBLIC_CSP, "X-Content-Type-Options": "nosniff"}


def add_public_page(app: web.Application, path: str, page: str, assets: str) -> None:
    """Serve ``static/<page>`` at ``path`` and, at the route ``assets`` (whose ``{name}`` is
    pinned to the page's own files by its pattern), its scripts and styles."""

    async def serve_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / page, headers=PAGE_HEADERS)

    async def serve_asset(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / request.match_info["name"], headers=ASSET_HEADERS)

    app.router.add_get(path, serve_page)
    app.router.add_get(assets, serve_asset)
