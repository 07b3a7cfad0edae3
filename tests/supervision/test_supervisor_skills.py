"""Clerks' skills in the supervisor console (real Chromium) and its API: a supervisor sets the
levels of the clerks of their departments, the store and the matcher see them at once, and
every change is in the staff log; other departments' clerks and bad levels are refused."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect
from sqlalchemy import select

from storage import presence, store
from storage.models import StaffEvent
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login
from tests.supervision.test_supervisor_console import real_errors, sign_in

TAX = "tax-registration"


async def put_skills(
    server: RunningServer, token: str, username: str, skills: Any
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{server.url}/api/supervisor/clerks/{username}/skills",
            json=skills,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, await response.json()


async def test_a_supervisor_sets_a_clerks_skills_in_the_console(
    server: RunningServer, page: Any
) -> None:
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], "supervisor")
    await server.add_clerk("carl", ["taxation"])
    await server.add_clerk("mia", ["exit-entry"])
    carl = await store.find_clerk(server.db, "carl")
    # carl is on duty: what the matcher reads changes with the account
    await presence.clerk_attach(server.db, carl.id, {"taxation"}, "p", "s-carl", None, {})
    await sign_in(page, server, "sue")
    await page.click("[data-testid=tab-skills]")
    clerks = page.locator("[data-testid=skills-clerk] option")
    # only the clerks of the supervisor's departments
    await expect(clerks).to_have_count(1)
    await expect(clerks.first).to_have_attribute("value", "carl")
    await expect(page.locator("#skills-none")).to_be_visible()

    await page.select_option("[data-testid=skills-kind]", "service")
    await page.select_option("[data-testid=skills-which]", TAX)
    await page.select_option("[data-testid=skills-level]", "5")
    await page.click("[data-testid=skills-add]")
    await page.select_option("[data-testid=skills-kind]", "lang")
    await page.select_option("[data-testid=skills-which]", "yue")
    await page.select_option("[data-testid=skills-level]", "4")
    await page.click("[data-testid=skills-add]")
    await expect(page.locator("[data-testid=skills-status]")).to_contain_text("未保存")
    await page.click("[data-testid=skills-save]")
    await expect(page.locator("[data-testid=skills-status]")).to_contain_text("已保存")
    assert (await store.find_clerk(server.db, "carl")).skills == {
        "lang:yue": 4,
        f"service:{TAX}": 5,
    }
    on_duty = await presence.clerk(server.db, carl.id)
    assert on_duty is not None and on_duty.skills == {"lang:yue": 4, f"service:{TAX}": 5}

    # lower one, drop the other, in English
    await page.click("[data-testid=lang-en]")
    rows = page.locator("#skills-body tr")
    await expect(rows.first).to_contain_text("Cantonese")
    await page.locator("#skills-body tr[data-skill='lang:yue'] [data-testid=skill-remove]").click()
    await page.locator(f"#skills-body tr[data-skill='service:{TAX}'] select").select_option("2")
    await page.click("[data-testid=skills-save]")
    await expect(page.locator("[data-testid=skills-status]")).to_contain_text("skills saved")
    assert (await store.find_clerk(server.db, "carl")).skills == {f"service:{TAX}": 2}

    async with server.db.reads() as s:
        changes = (
            await s.scalars(select(StaffEvent).where(StaffEvent.kind == "clerk.skills_changed"))
        ).all()
    assert [(e.actor, e.payload["after"]) for e in changes] == [
        ("supervisor:sue", {"lang:yue": 4, f"service:{TAX}": 5}),
        ("supervisor:sue", {f"service:{TAX}": 2}),
    ]
    assert real_errors(page) == []


async def test_skills_outside_the_supervisors_departments_or_levels_are_refused(
    server: RunningServer,
) -> None:
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], "supervisor")
    await server.add_clerk("carl", ["taxation", "exit-entry"])
    await server.add_clerk("mia", ["exit-entry"])
    token = await login(server.url, "sue", CLERK_PASSWORD)
    clerk_token = await login(server.url, "carl", CLERK_PASSWORD)

    status, body = await put_skills(server, token, "mia", {"skills": {"care": 3}})
    assert status == 403 and "does not serve any of your departments" in body["message"]
    status, body = await put_skills(
        server, token, "carl", {"skills": {"service:residence-permit-application": 3}}
    )
    assert status == 403 and "residence-permit-application" in body["message"]
    status, body = await put_skills(server, token, "carl", {"skills": {"care": 9}})
    assert status == 400 and "1-5" in body["message"]
    status, body = await put_skills(server, token, "carl", {"skills": {"lang:fr": 2}})
    assert status == 400 and "lang:fr" in body["message"]
    status, body = await put_skills(server, token, "carl", {"levels": {}})
    assert status == 400 and "skills" in body["message"]
    status, body = await put_skills(server, token, "nobody", {"skills": {}})
    assert status == 404
    status, body = await put_skills(server, clerk_token, "carl", {"skills": {"care": 5}})
    assert status == 403
    # nothing was saved by any of them
    assert (await store.find_clerk(server.db, "carl")).skills == {}
    assert (await store.find_clerk(server.db, "mia")).skills == {}
    status, body = await put_skills(server, token, "carl", {"skills": {"care": 5}})
    assert status == 200 and body["skills"] == {"care": 5}
