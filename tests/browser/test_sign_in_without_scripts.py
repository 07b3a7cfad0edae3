"""A sign-in page whose scripts did not load sends no password anywhere.

Chromium fails the loads in flight when the machine's network changes (ERR_NETWORK_CHANGED):
once the console's scripts, and the browser then sent the sign-in form itself, as a GET with
the password in the address (into the access log and the history). Each sign-in form posts,
and its button works only once the page's script has taken the form over.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Request, Route, expect

from tests.conftest import RunningServer

PASSWORD = "pw-never-sent-9f3"
# (page, username field, password field, submit button)
FORMS = [
    ("/", "login-username", "login-password", "login-submit"),
    ("/supervisor", "login-username", "login-password", "login-submit"),
    ("/admin", "login-username", "login-password", "login-submit"),
]
# the wallboard shows its form only from its script
WALLBOARD = ("/wallboard", "wb-username", "wb-password", "wb-login-submit")


@pytest.mark.parametrize(("path", "user", "password", "submit"), FORMS)
async def test_without_its_scripts_the_form_sends_nothing(
    server: RunningServer, page: Any, path: str, user: str, password: str, submit: str
) -> None:
    async def no_scripts(route: Route) -> None:
        await route.abort("internetdisconnected")

    await page.route("**/*.js", no_scripts)
    sent: list[str] = []

    def note(request: Request) -> None:
        sent.append(f"{request.method} {request.url} {request.post_data or ''}")

    page.on("request", note)
    await page.goto(server.url + path)
    await expect(page.get_by_test_id(submit)).to_be_disabled()
    await page.get_by_test_id(user).fill("alice")
    await page.get_by_test_id(password).fill(PASSWORD)
    await page.get_by_test_id(password).press("Enter")
    await page.get_by_test_id(submit).click(force=True)
    # a request made by the press would be on its way by now: the page's own load is done
    await page.evaluate("() => new Promise((done) => setTimeout(done, 300))")

    assert [line for line in sent if PASSWORD in line or "alice" in line] == []
    assert page.url == server.url + path


@pytest.mark.parametrize(("path", "user", "password", "submit"), [*FORMS, WALLBOARD])
async def test_with_its_scripts_the_button_works(
    server: RunningServer, page: Any, path: str, user: str, password: str, submit: str
) -> None:
    await page.goto(server.url + path)

    await expect(page.get_by_test_id(submit)).to_be_enabled()
