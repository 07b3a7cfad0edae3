"""``vcounter place add|edit|list|remove|seed``: the service map's registry of kiosks and
staffed windows. Every change is checked against the catalogue and the map (a sentence names
what is wrong; nothing saved is touched) and recorded in the staff chain."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from signaling.accounts_cli import _run
from signaling.catalogue import load_catalogue
from signaling.errors import InvalidPlace
from signaling.messages import LANGUAGES
from signaling.places import (
    DIRECTIONS,
    HOURS_EXAMPLE,
    PlaceSpec,
    add_checked,
    check_place,
    fields_of,
    seed_places,
    spec_of,
    staff_places,
)
from signaling.settings import Settings
from storage import places as stored
from storage.db import Database
from storage.staff_audit import StaffLog
from storage.store import find_terminal_by_token

ACTOR = "cli"


def _texts(pairs: tuple[str, ...], what: str) -> dict[str, str] | None:
    """``--name zh-Hant=… --name zh-Hans=… --name en=…`` as {language: text}."""
    if not pairs:
        return None
    texts: dict[str, str] = {}
    for pair in pairs:
        language, sep, value = pair.partition("=")
        if not sep or language not in LANGUAGES:
            raise click.BadParameter(
                f"{pair!r}: write LANGUAGE=TEXT with LANGUAGE one of {', '.join(LANGUAGES)}",
                param_hint=f"--{what}",
            )
        texts[language] = value.strip()
    return texts


F = TypeVar("F", bound=Callable[..., Any])


def _place_options(required: bool) -> Callable[[F], F]:
    """The options ``add`` and ``edit`` share (``add`` requires the ones a place must have)."""

    def decorate(command: F) -> F:
        options = [
            click.option("--kind", type=click.Choice(["kiosk", "window"]), required=required,
                         help="A kiosk (a terminal) or a staffed window (服务窗口)."),
            click.option("--name", "names", multiple=True, metavar="LANG=TEXT",
                         help="The name in each language: zh-Hant=…, zh-Hans=…, en=…"),
            click.option("--address", "addresses", multiple=True, metavar="LANG=TEXT",
                         help="The address in each language, as --name."),
            click.option("--city", required=required,
                         help="A city of the map: hong-kong, macau, guangzhou, shenzhen, …"),
            click.option("--lat", "latitude", type=float, required=required,
                         help="Latitude, WGS84 degrees (what a phone's GPS says), e.g. 22.2830."),
            click.option("--lon", "longitude", type=float, required=required,
                         help="Longitude, WGS84 degrees, e.g. 114.1500."),
            click.option("--hours", required=required, help=f"Opening hours, e.g. {HOURS_EXAMPLE!r}."),
            click.option("--direction", "directions", multiple=True, type=click.Choice(DIRECTIONS),
                         help="A direction served (repeat for more)."),
            click.option("--service", "services", multiple=True, metavar="SERVICE_ID",
                         help="A catalogue service offered (repeat; ids at /api/catalogue)."),
            click.option("--phone", default=None, help="A staffed window's telephone."),
            click.option("--terminal", default=None,
                         help="A kiosk's registered terminal (`vcounter terminal list`)."),
        ]  # fmt: skip
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The options the operator gave (repeatable ones given at least once)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == ():
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def add_place_commands(main: click.Group) -> None:
    """Attach the ``place`` group to ``main``."""

    @main.group()
    def place() -> None:
        """Manage the service map's places: kiosks and staffed windows (public page /map)."""

    @place.command("add")
    @click.argument("slug")
    @_place_options(required=True)
    @click.pass_context
    def place_add(ctx: click.Context, /, slug: str, **values: Any) -> None:
        """Add place SLUG (lowercase letters, digits, dashes: how the map and CLI name it)."""
        catalogue = load_catalogue(_settings(ctx).catalogue_file)
        given = _given(values)
        for key, what in (("names", "name"), ("addresses", "address")):
            if values[key]:
                given[key] = _texts(values[key], what)
        spec = _checked({"slug": slug, **given}, catalogue)
        _run(ctx, lambda db: add_checked(db, spec, ACTOR))
        click.echo(f"place {slug} added")

    @place.command("edit")
    @click.argument("slug")
    @_place_options(required=False)
    @click.pass_context
    def place_edit(ctx: click.Context, /, slug: str, **values: Any) -> None:
        """Change some fields of place SLUG; the rest stay as they are."""
        catalogue = load_catalogue(_settings(ctx).catalogue_file)
        given = _given(values)
        for key, what in (("names", "name"), ("addresses", "address")):
            if values[key]:
                given[key] = _texts(values[key], what)

        async def work(db: Database) -> None:
            found = await stored.get_place(db, slug)
            current = stored.as_dict(found)
            for key in ("names", "addresses"):
                if key in given:  # a language not given keeps its text
                    given[key] = {**current[key], **given[key]}
            spec = _checked({**current, **given}, catalogue)
            if spec.kind == "window" and found.terminal_id is not None:
                raise click.UsageError(
                    f"place {slug!r} has a terminal; a staffed window has none: remove the"
                    " place and add it again as a window"
                )
            changes = {k: v for k, v in fields_of(spec).items() if k in given}
            before, after = await stored.edit_place(db, slug, changes, spec.terminal)
            await StaffLog(db).append(
                ACTOR, "place.edited", {"place": slug, "before": before, "after": after}
            )

        _run(ctx, work)
        click.echo(f"place {slug} changed")

    @place.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print every field as JSON.")
    @click.pass_context
    def place_list(ctx: click.Context, as_json: bool) -> None:
        """List every place: slug, kind, city, live status, terminal, name."""
        places = _run(ctx, staff_places)
        if as_json:
            dumped = [p.model_dump(mode="json", by_alias=True) for p in places]
            click.echo(json.dumps(dumped, ensure_ascii=False, indent=2))
            return
        for p in places:
            status: str = p.status or "-"
            if p.printer and p.printer != "ok":
                status += f",printer {p.printer}"
            click.echo(f"{p.id}\t{p.kind}\t{p.city}\t{status}\t{p.terminal or '-'}\t{p.names.en}")

    @place.command("remove")
    @click.argument("slug")
    @click.pass_context
    def place_remove(ctx: click.Context, slug: str) -> None:
        """Take place SLUG off the map (a kiosk's terminal stays registered)."""

        async def work(db: Database) -> None:
            gone = await stored.remove_place(db, slug)
            await StaffLog(db).append(ACTOR, "place.removed", {"place": slug, "before": gone})

        _run(ctx, work)
        click.echo(f"place {slug} removed")

    @place.command("seed")
    @click.pass_context
    def place_seed(ctx: click.Context) -> None:
        """Fill an empty registry with the demo's Bay Area places (signaling/data/places.json)."""
        catalogue = load_catalogue(_settings(ctx).catalogue_file)
        added = _run(ctx, lambda db: seed_places(db, catalogue, ACTOR))
        click.echo(f"{added} places added" if added else "the registry already has places")


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


def _checked(data: dict[str, Any], catalogue: Any) -> PlaceSpec:
    """The place as a checked spec, or a usage error with the sentence (nothing is saved)."""
    try:
        spec = spec_of(data)
        check_place(spec, catalogue)
    except InvalidPlace as exc:
        raise click.UsageError(exc.message) from exc
    return spec


# the demo kiosk stands here on the demo's map
DEMO_PLACE = "hk-sheung-wan"


async def place_for_terminal(db: Database, slug: str) -> None:
    """Refuse (:class:`InvalidPlace`) a place a new terminal cannot be put at."""
    found = await stored.get_place(db, slug)
    if found.kind != "kiosk":
        raise InvalidPlace(f"place {slug!r} is a staffed window; a terminal goes to a kiosk place")
    if found.terminal_id is not None:
        raise InvalidPlace(
            f"place {slug!r} already has a terminal; `vcounter place edit {slug} --terminal NAME`"
            " moves it"
        )


async def attach_terminal(db: Database, slug: str, terminal: str) -> None:
    """Put terminal ``terminal`` at kiosk place ``slug`` (recorded in the staff chain)."""
    before, after = await stored.edit_place(db, slug, {}, terminal)
    await StaffLog(db).append(
        ACTOR, "place.edited", {"place": slug, "before": before, "after": after}
    )


async def seed_demo_map(db: Database, catalogue: Any, token: str) -> None:
    """The demo's map: the Bay Area places, the demo kiosk at :data:`DEMO_PLACE`."""
    if not await seed_places(db, catalogue, "demo"):
        return
    terminal = await find_terminal_by_token(db, token)
    if terminal is not None:
        await attach_terminal(db, DEMO_PLACE, terminal.name)
