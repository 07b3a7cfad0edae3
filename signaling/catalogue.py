"""The service catalogue: departments, the services they offer and the materials each needs.

The catalogue ships as ``signaling/data/catalogue.json``; :func:`load_catalogue` reads and
checks it once at start-up, so a bad file stops the server instead of a call.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from signaling.booking_rules import BookingRules, booking_problems
from signaling.errors import ConfigError, UnknownService
from signaling.jurisdictions import DIRECTIONS_OF, ZONE_OF, Direction, Jurisdiction
from signaling.messages import LANGUAGES, Language, LocalizedText, ServiceId
from signaling.payments.fees import Fee
from storage.errors import InvalidValue
from storage.skills import SkillRule, WideningStep, check_rule

# departments and materials follow the service id rule so every id is safe in URLs and logs
CatalogueId = ServiceId


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Material(_Entry):
    """A document the applicant shows or uploads; ``required=False`` means only in some cases."""

    id: CatalogueId
    names: LocalizedText
    required: bool
    note: LocalizedText | None = None
    # 容缺受理: the clerk may accept the application without it, on the applicant's promise
    # to bring it later; only a non-essential material says so (signaling/paperwork/to_follow.py)
    may_follow: bool = False
    # working days the applicant has to bring it, unless the clerk gives another due date
    follow_days: int | None = Field(default=None, ge=1, le=30)


class DispositionCode(_Entry):
    """How a call ended, as the clerk files it in the wrap-up."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    names: LocalizedText


def _code(code_id: str, zh_hant: str, zh_hans: str, en: str) -> DispositionCode:
    return DispositionCode(
        id=code_id,
        names=LocalizedText.model_validate({"zh-Hant": zh_hant, "zh-Hans": zh_hans, "en": en}),
    )


# the codes of a department whose entry lists none
DEFAULT_DISPOSITION_CODES = (
    _code("resolved", "已辦結", "已办结", "Resolved"),
    _code("needs-documents", "需補交材料", "需补交材料", "Needs documents"),
    _code("referred", "已轉介", "已转介", "Referred"),
    _code("applicant-left", "申請人已離開", "申请人已离开", "Applicant left"),
    _code("other", "其他", "其他", "Other"),
)


class Department(_Entry):
    id: CatalogueId
    names: LocalizedText
    description: LocalizedText
    # whether the applicant is told when a supervisor monitors or whispers (a barge, where
    # they hear the supervisor, is always shown): a department's own policy
    announce_monitoring: bool = False
    # what a clerk may file as a call's disposition (empty: DEFAULT_DISPOSITION_CODES)
    disposition_codes: list[DispositionCode] = Field(default_factory=list)
    # which side of the border the department belongs to: its services run towards it
    # (signaling/jurisdictions.py); and its clock (IANA; None: its jurisdiction's)
    jurisdiction: Jurisdiction = "mainland"
    time_zone: str | None = None

    @property
    def zone(self) -> str:
        """The department's IANA time zone (its own, else its jurisdiction's)."""
        return self.time_zone or ZONE_OF[self.jurisdiction]

    @property
    def dispositions(self) -> list[DispositionCode]:
        """The department's disposition codes, or the default ones when it lists none."""
        return list(self.disposition_codes or DEFAULT_DISPOSITION_CODES)


Requirement = Literal["service", "language", "care"]


_SERVICE_ONLY: dict[Requirement, int] = {"service": 1}


class Widening(_Entry):
    """From ``after_s`` seconds of waiting, a call wants these levels (see storage/skills.py)."""

    after_s: float = Field(ge=0)
    levels: dict[Requirement, int]


class SelfService(_Entry):
    """A service without a clerk: the department's connector issues the document
    (signaling/self_service); its calls are never queued, except when the applicant asks
    for a clerk after the department failed or refused."""

    # the kind of document the department's connector is asked for
    document: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]


class Service(_Entry):
    """One service a department offers at the counter."""

    id: ServiceId
    department_id: CatalogueId
    names: LocalizedText
    description: LocalizedText
    materials: list[Material]
    # high-stakes services need a second approver of the department as well as the clerk
    second_approval: bool
    # feeds the queue's wait estimate, so it is the median call length, not the worst case
    typical_minutes: int = Field(ge=1, le=240)
    # what a clerk must be able to do to take its calls: a floor per requirement (0: preferred,
    # not needed), and the steps by which a waiting call asks less (storage/skills.py)
    skills: dict[Requirement, int] = Field(default_factory=lambda: _SERVICE_ONLY.copy())
    widening: list[Widening] = Field(default_factory=list)
    # what the applicant pays, and when (signaling/payments); None: the service is free
    fee: Fee | None = None
    # issued by the department's system after the identity check, with no clerk
    self_service: SelfService | None = None
    # which way(s) it serves (signaling/jurisdictions.py); empty: every direction its
    # department's jurisdiction serves (a mainland service for Macau residents only names one)
    directions: list[Direction] = Field(default_factory=list)

    def skill_rule(self) -> SkillRule:
        """The rule the matcher applies to this service's calls (:class:`InvalidValue` if bad)."""
        steps = [
            WideningStep(w.after_s, {str(k): v for k, v in w.levels.items()}) for w in self.widening
        ]
        return check_rule({str(k): v for k, v in self.skills.items()}, steps)


class Catalogue(_Entry):
    departments: list[Department] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    # booking rules by department id, from booking_rules.json beside the catalogue
    # (signaling/booking_rules.py); public, like the rest of the catalogue
    bookings: dict[str, BookingRules] = Field(default_factory=dict)

    def department(self, department_id: str) -> Department:
        """The department with ``department_id``; raises :class:`KeyError` if there is none."""
        for department in self.departments:
            if department.id == department_id:
                return department
        raise KeyError(department_id)

    def service(self, service_id: str) -> Service:
        """The service with ``service_id``; raises :class:`UnknownService` if there is none."""
        for service in self.services:
            if service.id == service_id:
                return service
        raise UnknownService(
            f"unknown service {service_id!r}: valid ids are listed at GET /api/catalogue"
            " (services[].id)"
        )

    def skill_rules(self) -> dict[str, SkillRule]:
        """Each service's skill rule, by service id."""
        return {s.id: s.skill_rule() for s in self.services}

    def directions_of(self, service: Service) -> tuple[Direction, ...]:
        """The directions ``service`` serves: its own list, else its department's."""
        if service.directions:
            return tuple(service.directions)
        return DIRECTIONS_OF[self.department(service.department_id).jurisdiction]

    def serving(self, directions: Iterable[Direction]) -> Catalogue:
        """The catalogue a place serving ``directions`` shows: their services only, and the
        departments (and booking rules) that still have one."""
        wanted = set(directions)
        services = [s for s in self.services if wanted.intersection(self.directions_of(s))]
        kept = {s.department_id for s in services}
        return self.model_copy(
            update={
                "departments": [d for d in self.departments if d.id in kept],
                "services": services,
                "bookings": {k: v for k, v in self.bookings.items() if k in kept},
            }
        )

    def services_of(self, department_id: str) -> list[Service]:
        """The services of one department, in catalogue order (empty if the id is unknown)."""
        return [s for s in self.services if s.department_id == department_id]

    def search(self, text: str, language: Language) -> list[Service]:
        """Services whose name contains ``text`` (case-insensitive), best matches first.

        Every language is searched, since applicants type in whichever they like; names that
        match in ``language`` come first.
        """
        needle = text.strip().casefold()
        if not needle:
            return []
        first: list[Service] = []
        rest: list[Service] = []
        for service in self.services:
            if needle in service.names.get(language).casefold():
                first.append(service)
            elif any(needle in service.names.get(lang).casefold() for lang in LANGUAGES):
                rest.append(service)
        return first + rest


BOOKING_FILE = "booking_rules.json"


class BookingFile(_Entry):
    """``booking_rules.json``: what it is for, and the rules by department id."""

    about: str = ""
    departments: dict[str, BookingRules]


def _duplicates(ids: Iterable[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def _check(catalogue: Catalogue) -> list[str]:
    problems: list[str] = []
    department_ids = {d.id for d in catalogue.departments}
    if dup := _duplicates(d.id for d in catalogue.departments):
        problems.append(f"duplicate department id(s) {', '.join(dup)}")
    if dup := _duplicates(s.id for s in catalogue.services):
        problems.append(f"duplicate service id(s) {', '.join(dup)}")
    for service in catalogue.services:
        if service.department_id not in department_ids:
            problems.append(
                f"service {service.id!r} names unknown department {service.department_id!r}"
                f" (known: {', '.join(sorted(department_ids))})"
            )
        try:
            service.skill_rule()
        except InvalidValue as exc:
            problems.append(f"service {service.id!r}: {exc.message}")
        if dup := _duplicates(m.id for m in service.materials):
            problems.append(f"service {service.id!r} has duplicate material id(s) {', '.join(dup)}")
        for material in service.materials:
            if material.follow_days is not None and not material.may_follow:
                problems.append(
                    f"service {service.id!r}: material {material.id!r} has follow_days but not"
                    " may_follow; set may_follow true or drop follow_days"
                )
    for department in catalogue.departments:
        if dup := _duplicates(c.id for c in department.disposition_codes):
            problems.append(
                f"department {department.id!r} has duplicate disposition code(s) {', '.join(dup)}"
            )
    problems.extend(_direction_problems(catalogue))
    named: list[Department | Service] = [*catalogue.departments, *catalogue.services]
    for entry in named:
        if blank := [lang for lang in LANGUAGES if not entry.names.get(lang).strip()]:
            problems.append(f"{entry.id!r} has a blank name in {', '.join(blank)}")
    problems.extend(booking_problems(catalogue.bookings, catalogue.services, department_ids))
    used = {s.department_id for s in catalogue.services}
    for department in catalogue.departments:
        if department.id not in used:
            problems.append(f"department {department.id!r} has no services")
    return problems


def self_service_problems(catalogue: Catalogue, connected: Iterable[str]) -> list[str]:
    """Self-service services whose department has no connector among ``connected``."""
    have = set(connected)
    return [
        f"service {s.id!r} is self-service but department {s.department_id!r} has no connector"
        f" configured; set department_connectors.{s.department_id} (or remove the service's"
        " self_service)"
        for s in catalogue.services
        if s.self_service is not None and s.department_id not in have
    ]


def _direction_problems(catalogue: Catalogue) -> list[str]:
    """Time zones that are not IANA names, and services that run a way their department's
    side of the border does not."""
    problems: list[str] = []
    for department in catalogue.departments:
        if department.time_zone is None:
            continue
        try:
            ZoneInfo(department.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"department {department.id!r} has time_zone {department.time_zone!r}, which is"
                " not an IANA time zone (e.g. Asia/Hong_Kong, Asia/Macau, Asia/Shanghai)"
            )
    jurisdictions = {d.id: d.jurisdiction for d in catalogue.departments}
    for service in catalogue.services:
        jurisdiction = jurisdictions.get(service.department_id)
        if jurisdiction is None:
            continue  # reported as an unknown department
        allowed = DIRECTIONS_OF[jurisdiction]
        if wrong := [d for d in service.directions if d not in allowed]:
            problems.append(
                f"service {service.id!r} names direction(s) {', '.join(wrong)}, but its department"
                f" {service.department_id!r} is a {jurisdiction} department, whose services run"
                f" {' or '.join(allowed)}: name one of those, or none to serve them all"
            )
        if dup := _duplicates(service.directions):
            problems.append(f"service {service.id!r} names direction(s) {', '.join(dup)} twice")
    return problems


def _format_validation(error: ValidationError, data: object) -> str:
    lines = []
    services = data.get("services") if isinstance(data, dict) else None
    for e in error.errors():
        loc = e["loc"]
        where = ".".join(str(part) for part in loc) or "(top level)"
        # "services.23.fee.currency" says little to whoever edits the file: name the service
        if len(loc) > 1 and loc[0] == "services" and isinstance(loc[1], int):
            entry = services[loc[1]] if isinstance(services, list) else None
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                where = f"service {entry['id']!r} at {where}"
        lines.append(f"{where}: {e['msg']}")
    return "; ".join(lines)


def _booking_rules(catalogue: Traversable | Path, where: str) -> dict[str, BookingRules]:
    """The booking rules beside the catalogue (``booking_rules.json``); none if absent."""
    source = catalogue.parent if isinstance(catalogue, Path) else None
    path = (source / BOOKING_FILE) if source is not None else None
    shipped = resources.files("signaling").joinpath("data", BOOKING_FILE)
    rules_file: Traversable | Path = path if path is not None else shipped
    name = str(path) if path is not None else f"signaling/data/{BOOKING_FILE}"
    if not rules_file.is_file():
        return {}
    try:
        data = json.loads(rules_file.read_text(encoding="utf-8"))
        return BookingFile.model_validate(data).departments
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read booking rules {name} (beside {where}): {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(
            f"booking rules {name} are invalid: {_format_validation(exc, data)}"
        ) from exc


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and check the catalogue at ``path`` (default: the one shipped with the package).

    Raises :class:`ConfigError` naming the file and every problem found.
    """
    if path is None:
        source = resources.files("signaling").joinpath("data", "catalogue.json")
        where = "signaling/data/catalogue.json"
    else:
        source, where = path, str(path)
    try:
        raw = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read catalogue {where}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"catalogue {where} is not valid JSON: {exc.msg} at line {exc.lineno}"
            f" column {exc.colno}"
        ) from exc
    try:
        catalogue = Catalogue.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"catalogue {where} is invalid: {_format_validation(exc, data)}") from exc
    catalogue = catalogue.model_copy(update={"bookings": _booking_rules(source, where)})
    if problems := _check(catalogue):
        raise ConfigError(f"catalogue {where} is invalid: {'; '.join(problems)}")
    return catalogue
