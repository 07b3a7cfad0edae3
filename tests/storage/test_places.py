"""The places registry in the store, on SQLite and PostgreSQL: kept as given, one place per
terminal, refusals that name the way out, and the live facts of every kiosk in three reads."""

from __future__ import annotations

import json

import pytest

from signaling.catalogue import load_catalogue
from signaling.places import SEED_FILE, fields_of, seed_places, spec_of
from storage import places, presence, store
from storage.db import Database
from storage.errors import DuplicateEntry, NotFound
from storage.staff_audit import StaffLog


async def test_seeded_places_round_trip_and_every_addition_is_audited(db: Database) -> None:
    assert await seed_places(db, load_catalogue(), "test") == 19
    kept = {p.slug: p for p in await places.list_places(db)}
    for item in json.loads(SEED_FILE.read_text(encoding="utf-8"))["places"]:
        spec = spec_of(item)
        assert places.as_dict(kept[spec.slug]) == {"slug": spec.slug, **fields_of(spec)}
    assert [e.kind for e in await StaffLog(db).events()] == ["place.added"] * 19
    assert await seed_places(db, load_catalogue(), "test") == 0


async def test_one_place_per_terminal_and_clear_refusals(db: Database) -> None:
    await seed_places(db, load_catalogue(), "test")
    await store.register_terminal(db, "k1")
    await places.edit_place(db, "hk-mong-kok", {}, "k1")
    with pytest.raises(DuplicateEntry, match="terminal 'k1' already belongs to another place"):
        await places.edit_place(db, "hk-tsuen-wan", {}, "k1")
    with pytest.raises(NotFound, match="no terminal 'k9'; `vcounter terminal list`"):
        await places.edit_place(db, "hk-tsuen-wan", {}, "k9")
    with pytest.raises(DuplicateEntry, match="place 'hk-mong-kok' already exists"):
        await places.add_place(
            db, "hk-mong-kok", _fields(await places.get_place(db, "mo-taipa")), None
        )
    before, after = await places.edit_place(db, "mo-taipa", {"hours": "Mo-Su 00:00-24:00"})
    assert before["hours"] == "Mo-Sa 09:00-20:00" and after["hours"] == "Mo-Su 00:00-24:00"
    gone = await places.remove_place(db, "hk-mong-kok")
    assert gone["terminal_id"] is not None
    with pytest.raises(NotFound, match="no place 'hk-mong-kok'"):
        await places.get_place(db, "hk-mong-kok")
    # the terminal stays registered, and may stand at another place now
    await places.edit_place(db, "hk-tsuen-wan", {}, "k1")


async def test_kiosk_facts_come_from_presence_sessions_and_printer_reports(db: Database) -> None:
    k1, _ = await store.register_terminal(db, "k1")
    k2, _ = await store.register_terminal(db, "k2")
    await presence.register_process(db, "p1", "host")
    await presence.terminal_attach(db, k1.id, "p1", "sid-1", None)
    await places.note_printer(db, k2.id, "retrying", "printer_out_of_paper")
    facts = await places.kiosk_facts(db)
    assert (facts[k1.id].connected, facts[k1.id].in_call, facts[k1.id].printer_status) == (
        True, False, None,
    )  # fmt: skip
    assert (facts[k2.id].connected, facts[k2.id].printer_error) == (False, "printer_out_of_paper")
    await places.note_printer(db, k2.id, "printed", "")
    assert (await places.kiosk_facts(db))[k2.id].printer_status == "printed"
    await presence.terminal_detach(db, k1.id, "sid-1")
    assert not (await places.kiosk_facts(db))[k1.id].connected


def _fields(place: object) -> dict[str, object]:
    return {k: v for k, v in places.as_dict(place).items() if k != "slug"}  # type: ignore[arg-type]
