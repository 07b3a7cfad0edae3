"""Clerks' skills in the supervisor console (``/api/supervisor/skills``): what
``vcounter clerk skills`` does, for the clerks a supervisor is responsible for.

A supervisor sees and changes the skills of the clerks who serve one of their departments,
and may grant service and department skills only within their own departments. Every change
is an event in the staff log, with the skills before and after.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints, ValidationError

from signaling.http_auth import clerk_of, http_error, json_body
from signaling.keys import CATALOGUE, DATABASE
from signaling.messages import Message
from storage import skills as clerk_skills
from storage import store
from storage.errors import InvalidValue, NotFound
from storage.models import Clerk
from storage.staff_audit import StaffLog

SUPERVISOR = "supervisor"
_NAME = r"{name:[A-Za-z0-9._-]{1,64}}"
SkillName = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class ClerkSkills(Message):
    username: str
    display_name: str
    departments: list[str]
    skills: dict[str, int]


class SkillsOverview(Message):
    """The clerks a supervisor manages, and what skills may be given."""

    clerks: list[ClerkSkills]
    departments: list[str]
    languages: list[str]
    member_level: int


class NewSkills(Message):
    """A clerk's whole set of skills, as they are to be."""

    skills: dict[SkillName, int] = Field(max_length=200)


def _row(clerk: Clerk) -> ClerkSkills:
    return ClerkSkills(
        username=clerk.username,
        display_name=clerk.display_name,
        departments=sorted(clerk.departments),
        skills=dict(sorted((clerk.skills or {}).items())),
    )


async def _scope(request: web.Request) -> tuple[str, set[str]]:
    """The supervisor's username and departments."""
    who = await clerk_of(request, SUPERVISOR)
    account = await store.get_clerk(request.app[DATABASE], who.clerk_id)
    return who.username, set(account.departments)


async def overview(request: web.Request) -> web.Response:
    """The skills of every clerk who serves one of the supervisor's departments."""
    _username, departments = await _scope(request)
    clerks = [
        _row(c)
        for c in await store.list_clerks(request.app[DATABASE])
        if c.role == "clerk" and departments & set(c.departments)
    ]
    answer = SkillsOverview(
        clerks=clerks,
        departments=sorted(departments),
        languages=sorted(set(clerk_skills.SPOKEN.values())),
        member_level=clerk_skills.MEMBER_LEVEL,
    )
    return web.json_response(answer.model_dump(mode="json"))


def _outside(name: str, departments: set[str], service_department: dict[str, str]) -> bool:
    kind, _sep, value = name.partition(":")
    if kind == "dept":
        return value not in departments
    if kind == "service":
        return service_department.get(value) not in departments
    return False


async def put_skills(request: web.Request) -> web.Response:
    """Replace one clerk's skills; 400 naming a bad skill or level, 403 outside the
    supervisor's departments."""
    username, departments = await _scope(request)
    name = request.match_info["name"]
    db = request.app[DATABASE]
    catalogue = request.app[CATALOGUE]
    try:
        wanted = NewSkills.model_validate(json_body(await request.read())).skills
    except ValidationError as exc:
        raise http_error(
            web.HTTPBadRequest,
            "invalid_message",
            'send {"skills": {"<skill>": <level 1-5>, ...}}, at most 200 skills',
        ) from exc
    try:
        clerk = await store.find_clerk(db, name)
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc
    if clerk.role != "clerk" or not departments & set(clerk.departments):
        raise http_error(
            web.HTTPForbidden,
            "forbidden",
            f"{name} does not serve any of your departments; their own supervisor sets"
            " their skills",
        )
    service_department = {s.id: s.department_id for s in catalogue.services}
    current = dict(clerk.skills or {})
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    removed = {k: None for k in current if k not in wanted}
    if outside := sorted(
        k for k in [*changed, *removed] if _outside(k, departments, service_department)
    ):
        raise http_error(
            web.HTTPForbidden,
            "forbidden",
            f"{', '.join(outside)}: not a service or department of yours",
        )
    try:
        before, after = await clerk_skills.set_clerk_skills(
            db,
            name,
            {**changed, **removed},
            services=list(service_department),
            departments=[d.id for d in catalogue.departments],
        )
    except InvalidValue as exc:
        raise http_error(web.HTTPBadRequest, exc.code, exc.message) from exc
    if before != after:
        await StaffLog(db).append(
            f"supervisor:{username}",
            "clerk.skills_changed",
            {"username": name, "before": before, "after": after},
        )
    return web.json_response(_row(await store.find_clerk(db, name)).model_dump(mode="json"))


def setup_skills_api(app: web.Application) -> None:
    """Mount ``/api/supervisor/skills`` and ``/api/supervisor/clerks/{name}/skills``."""
    app.router.add_get("/api/supervisor/skills", overview)
    app.router.add_put(f"/api/supervisor/clerks/{_NAME}/skills", put_skills)
