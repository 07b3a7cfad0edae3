"""The console's page and assets as the real server serves them: headers, CSP, 404s."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent_console.errors import ConsoleAssetsMissing
from agent_console.routes import STATIC_DIR, setup_console
from signaling.guard import API_CSP
from storage.errors import VcounterError
from tests.conftest import RunningServer

REQUIRED_CSP = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self' ws: wss:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
]


class _InlineFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style attributes, on* handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            self.scripts.append(names)
            self._in_script = True
            if not names.get("src"):
                self.problems.append("<script> without src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script text {data.strip()[:40]!r}")


def _directives(csp: str) -> list[str]:
    return [d.strip() for d in csp.split(";") if d.strip()]


@pytest.mark.parametrize("path", ["/", "/supervisor"])
async def test_index_is_served_with_a_strict_csp(server: RunningServer, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        directives = _directives(r.headers["Content-Security-Policy"])
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        body = await r.text()
    for directive in REQUIRED_CSP:
        assert directive in directives, (directive, directives)
    assert not any("unsafe-inline" in d or "unsafe-eval" in d for d in directives)
    for testid in ("login-username", "login-password", "login-submit", "error-banner"):
        assert f'data-testid="{testid}"' in body


@pytest.mark.parametrize(
    ("page", "script"),
    [("index.html", "/static/main.js"), ("supervisor.html", "/static/supervisor.js")],
)
def test_index_has_no_inline_script_or_style(page: str, script: str) -> None:
    finder = _InlineFinder()
    finder.feed((STATIC_DIR / page).read_text(encoding="utf-8"))
    assert finder.problems == []
    assert [s.get("src") for s in finder.scripts] == [script]
    assert all(s.get("type") == "module" for s in finder.scripts)


def test_console_modules_import_only_files_that_exist() -> None:
    """Every ES module import points at a served file (a typo would blank the console)."""
    vendor = STATIC_DIR.parent / "node_modules" / "socket.io-client" / "dist"
    pattern = re.compile(r'^\s*import\s[^;]*?from\s+"([^"]+)";', re.MULTILINE | re.DOTALL)
    modules = sorted(STATIC_DIR.glob("*.js"))
    assert {m.name for m in modules} >= {"main.js", "protocol.js", "i18n.js"}
    for module in modules:
        for target in pattern.findall(module.read_text(encoding="utf-8")):
            if target.startswith("/vendor/socket.io/"):
                path = vendor / target.removeprefix("/vendor/socket.io/")
            else:
                assert target.startswith("./"), f"{module.name}: import {target!r} is not relative"
                path = STATIC_DIR / target.removeprefix("./")
            assert path.is_file(), f"{module.name} imports {target}, which does not exist"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/main.js", "javascript"),
        ("/static/console.css", "text/css"),
        ("/static/protocol.js", "javascript"),
        ("/vendor/socket.io/socket.io.esm.min.js", "javascript"),
        ("/vendor/socket.io/socket.io.min.js", "javascript"),
    ],
)
async def test_assets_are_served_with_security_headers(
    server: RunningServer, path: str, content_type: str
) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as r:
        assert r.status == 200, path
        assert content_type in r.content_type
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert len(await r.read()) > 100


@pytest.mark.parametrize(
    "path",
    [
        "/static/no-such-module.js",
        "/static/",
        "/vendor/socket.io/no-such-build.js",
        "/static/..%2Froutes.py",
        "/vendor/socket.io/..%2F..%2Fpackage.json",
    ],
)
async def test_unknown_or_escaping_paths_are_not_served(server: RunningServer, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as r:
        assert r.status in (403, 404), (path, r.status)
        body = await r.text()
    assert "def setup_console" not in body and "socket.io-client" not in body


async def test_api_responses_are_left_alone(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/api/health") as r:
        assert r.status == 200
        # not the console's policy: the API's own, which allows nothing (signaling/guard.py)
        assert r.headers["Content-Security-Policy"] == API_CSP


def test_missing_node_modules_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConsoleAssetsMissing) as caught:
        setup_console(web.Application(), node_modules=tmp_path / "node_modules")
    assert isinstance(caught.value, VcounterError)
    assert caught.value.code == "console_assets_missing"
    assert "npm ci" in caught.value.message and "./run" in caught.value.message
