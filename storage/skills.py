"""Skills and proficiency: what a clerk can do, what a service asks of them, and how a call
waiting longer settles for less.

A clerk's skills are named levels 1-5: ``service:<id>`` (one service), ``dept:<id>`` (every
service of a department), ``lang:<code>`` (a spoken language: ``yue`` Cantonese, ``cmn`` Mandarin, ``en``) and ``care``
(trained for care mode). Serving a department is still what lets a clerk take its calls at
all; a member with no level set for it counts as :data:`MEMBER_LEVEL`.

A service asks for three things, each with a floor: its own skill (``service``), the
applicant's language (``language``) and, for a care-mode call, ``care``. A floor of 0 means
"preferred, not needed". Widening steps (TaskRouter's expanding targets) ask for more at first
and less as the call waits: at ``after_s`` seconds of waiting the wanted level of each
requirement is the step's level, never below its floor. Among the clerks who reach every
wanted level, the best match (highest sum of levels) is rung, the longest idle first on a tie.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from sqlalchemy import select, update

from storage.db import Database
from storage.errors import InvalidValue, NotFound
from storage.models import Clerk, ClerkPresence

LEVELS = range(1, 6)
# a member of a department with no level set: able, not the expert widening waits for
MEMBER_LEVEL = 3
REQUIREMENTS = ("service", "language", "care")
# the language a kiosk's screen is in tells the language the applicant speaks: traditional
# Chinese is Hong Kong's and Macau's Cantonese, simplified the mainland's Mandarin
SPOKEN = {"zh-Hant": "yue", "zh-Hans": "cmn", "en": "en"}
SKILL_NAME = re.compile(r"^(?:(service|dept|lang):([a-z0-9][a-z0-9_-]{0,63})|care)$")


@dataclass(frozen=True)
class WideningStep:
    """From ``after_s`` seconds of waiting, these levels are wanted (requirement -> level)."""

    after_s: float
    levels: Mapping[str, int]


@dataclass(frozen=True)
class SkillRule:
    """What a service asks for: floors per requirement, and the steps that widen to them."""

    floors: Mapping[str, int] = field(default_factory=lambda: {"service": 1})
    widening: tuple[WideningStep, ...] = ()

    def wanted_at(self, waited_s: float) -> Mapping[str, int]:
        """The level wanted of each requirement after ``waited_s`` seconds of waiting (read
        only: the matcher asks this of every call at a line's head, every round)."""
        step = None
        for candidate in self.widening:
            if candidate.after_s <= waited_s:
                step = candidate
        if step is None:
            return self.floors_wanted
        wanted = dict(self.floors_wanted)
        for requirement, level in step.levels.items():
            wanted[requirement] = max(wanted[requirement], level)
        return wanted

    @cached_property
    def floors_wanted(self) -> Mapping[str, int]:
        """The floor of every requirement (0 where the service names none)."""
        return {r: self.floors.get(r, 0) for r in REQUIREMENTS}

    @cached_property
    def widest(self) -> Mapping[str, int]:
        """The least ever wanted, once the last step is reached: who *can* take the call."""
        return self.wanted_at(float("inf"))


DEFAULT_RULE = SkillRule()


def check_rule(floors: Mapping[str, int], widening: Iterable[WideningStep]) -> SkillRule:
    """A :class:`SkillRule`, or :class:`InvalidValue` naming what is wrong with it."""
    for requirement, level in floors.items():
        if requirement not in REQUIREMENTS:
            raise InvalidValue(
                f"unknown skill requirement {requirement!r}; use one of {', '.join(REQUIREMENTS)}"
            )
        if not 0 <= level <= LEVELS[-1]:
            raise InvalidValue(f"the floor of {requirement!r} must be 0-5, not {level}")
    steps = tuple(widening)
    previous: WideningStep | None = None
    for step in steps:
        if step.after_s < 0 or (previous is not None and step.after_s <= previous.after_s):
            raise InvalidValue(
                f"widening steps must come in increasing after_s from 0; {step.after_s} is not"
            )
        for requirement, level in step.levels.items():
            if requirement not in REQUIREMENTS or level not in LEVELS:
                raise InvalidValue(
                    f"widening step at {step.after_s} s: {requirement!r}: {level} is not a"
                    f" requirement ({', '.join(REQUIREMENTS)}) with a level 1-5"
                )
            if previous is not None and level > previous.levels.get(requirement, 0):
                raise InvalidValue(
                    f"widening step at {step.after_s} s asks more of {requirement!r} ({level})"
                    f" than the step before it: steps may only lower what they ask"
                )
        previous = step
    return SkillRule(dict(floors), steps)


def check_skills(
    skills: Mapping[str, int],
    *,
    services: Collection[str],
    departments: Collection[str],
    languages: Collection[str] = tuple(SPOKEN.values()),
) -> dict[str, int]:
    """``skills`` if every name and level is valid; :class:`InvalidValue` naming the first
    that is not."""
    known = {"service": services, "dept": departments, "lang": languages}
    for name, level in skills.items():
        match = SKILL_NAME.match(name)
        if match is None:
            raise InvalidValue(
                f"skill {name!r} is not one of service:<id>, dept:<id>, lang:<code> or care"
            )
        kind, value = match.group(1), match.group(2)
        if kind is not None and value not in known[kind]:
            raise InvalidValue(
                f"skill {name!r}: no such {kind}; known: {', '.join(sorted(known[kind]))}"
            )
        if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
            raise InvalidValue(
                f"skill {name!r}: the level must be a whole number 1-5, not {level!r}"
            )
    return dict(sorted(skills.items()))


class Need(NamedTuple):
    """What a waiting call is, as skills see it."""

    service_id: str
    department_id: str
    language: str
    care_mode: bool


def level_of(
    skills: Mapping[str, int], departments: Collection[str], requirement: str, need: Need
) -> int:
    """A clerk's level at one requirement of ``need`` (0: none)."""
    if need.department_id not in departments:
        return 0
    if requirement == "service":
        in_department = skills.get(f"dept:{need.department_id}", MEMBER_LEVEL)
        return skills.get(f"service:{need.service_id}", in_department)
    if requirement == "language":
        return skills.get(f"lang:{SPOKEN.get(need.language, need.language)}", 0)
    return skills.get("care", 0)


def fit(
    skills: Mapping[str, int],
    departments: Collection[str],
    need: Need,
    wanted: Mapping[str, int],
) -> int | None:
    """How well a clerk matches the call (the sum of their levels at what it asks), or None
    when they serve another department or are below a wanted level."""
    if need.department_id not in departments:
        return None
    score = 0
    for requirement in REQUIREMENTS:
        if requirement == "care" and not need.care_mode:
            continue
        level = level_of(skills, departments, requirement, need)
        if level < wanted[requirement]:
            return None
        score += level
    return score


async def set_clerk_skills(
    db: Database,
    username: str,
    changes: Mapping[str, int | None],
    *,
    services: Collection[str],
    departments: Collection[str],
) -> tuple[dict[str, int], dict[str, int]]:
    """Set (a level) or remove (None) skills of ``username``, on the account and, at once, on
    the presence row the matcher reads; returns the skills before and after."""
    async with db.transaction() as tx:
        clerk = await tx.session.scalar(select(Clerk).where(Clerk.username == username))
        if clerk is None:
            raise NotFound(f"no clerk account {username!r}; `vcounter clerk list` shows them")
        before = dict(clerk.skills or {})
        after = dict(before)
        for name, level in changes.items():
            if level is None:
                if name not in after:
                    raise InvalidValue(f"{username} has no skill {name!r} to remove")
                del after[name]
            else:
                after[name] = level
        after = check_skills(after, services=services, departments=departments)
        clerk.skills = after
        await tx.session.execute(
            update(ClerkPresence).where(ClerkPresence.clerk_id == clerk.id).values(skills=after)
        )
    return before, after
