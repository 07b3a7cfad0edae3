"""The demo's two-way counter: clerks of the Hong Kong and Macau departments, and a kiosk
at a mainland place (``sz-futian-kiosk``) whose applicants ask for their services."""

from __future__ import annotations

import contextlib
from pathlib import Path

from signaling.catalogue import Catalogue
from signaling.places_cli import attach_terminal
from storage import places as stored
from storage import store
from storage.db import Database
from storage.errors import NotFound, VcounterError

# the mainland kiosk place of the demo's map (signaling/data/places.json)
MAINLAND_PLACE = "sz-futian-kiosk"
MAINLAND_TERMINAL = "demo-futian-kiosk"
MAINLAND_TOKEN_FILE = "demo-mainland-terminal.token"
# username, password, display name, the departments' jurisdiction
TWO_WAY_CLERKS = (
    ("demo-hk", "demo-hk-clerk-2026", "HK Clerk 香港職員", "hong-kong"),
    ("demo-mo", "demo-mo-clerk-2026", "Macao Clerk 澳門職員", "macau"),
)


async def seed_two_way(db: Database, catalogue: Catalogue, data_dir: Path) -> Path | None:
    """Add the Hong Kong and Macau clerks and the mainland kiosk (registered at its place);
    returns the file holding that kiosk's device token (None: the map has no such place)."""
    for username, password, name, jurisdiction in TWO_WAY_CLERKS:
        departments = [d.id for d in catalogue.departments if d.jurisdiction == jurisdiction]
        if departments:
            with contextlib.suppress(VcounterError):  # kept from an earlier run
                await store.create_clerk(db, username, password, name, departments)
    try:
        place = await stored.get_place(db, MAINLAND_PLACE)
    except NotFound:
        return None  # an operator's own registry: the demo does not add to it
    token_file = data_dir / MAINLAND_TOKEN_FILE
    if place.terminal_id is not None and token_file.exists():
        return token_file
    count = 1
    while True:
        name = MAINLAND_TERMINAL if count == 1 else f"{MAINLAND_TERMINAL}-{count}"
        try:
            _, token = await store.register_terminal(db, name, "Futian Port")
            break
        except VcounterError:
            count += 1
    await attach_terminal(db, MAINLAND_PLACE, name)
    token_file.write_text(token)
    token_file.chmod(0o600)
    return token_file
