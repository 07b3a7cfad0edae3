"""Clerks, terminals, the catalogue and session rows."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from storage import store
from storage.db import Database
from storage.errors import DuplicateEntry, InvalidValue, NotFound
from storage.models import CallSession, Clerk, Department, Service, Terminal

PASSWORD = "correct horse battery"

# the production hasher: these tests check its parameters and the upgrade of weak hashes
pytestmark = pytest.mark.real_password_hashing


async def catalogue(db: Database) -> None:
    await store.sync_catalogue(
        db,
        [("tax", {"en": "Tax", "zh-Hant": "稅務"})],
        [("tax-registration", "tax", {"en": "Registration"}, [{"id": "id-card"}], True)],
    )


async def new_session(db: Database) -> CallSession:
    await catalogue(db)
    terminal, _ = await store.register_terminal(db, "kiosk-1", "hall 2")
    return await store.create_session(db, terminal.id, "tax-registration", "zh-Hant")


# --- clerks ---------------------------------------------------------------------------


async def test_create_clerk_stores_an_argon2_hash_not_the_password(db: Database) -> None:
    clerk = await store.create_clerk(db, "alice", PASSWORD, "Alice 陳", ["tax"])
    assert clerk.id > 0 and clerk.role == "clerk" and clerk.departments == ["tax"]
    assert clerk.password_hash.startswith("$argon2id$")
    assert PASSWORD not in clerk.password_hash
    assert clerk.created_at.tzinfo is UTC
    loaded = await store.get_clerk(db, clerk.id)
    assert loaded.username == "alice" and loaded.display_name == "Alice 陳"


async def test_duplicate_username_is_refused_by_name(db: Database) -> None:
    await store.create_clerk(db, "alice", PASSWORD, "Alice", [])
    with pytest.raises(DuplicateEntry, match="clerk username 'alice' is already taken"):
        await store.create_clerk(db, "alice", "another password", "Alice 2", [])


@pytest.mark.parametrize("username", ["", "a b", "x" * 65, "名字", "al/ice"])
async def test_bad_username_is_refused(db: Database, username: str) -> None:
    with pytest.raises(InvalidValue, match=r"username .* is not allowed: use 1 to 64 letters"):
        await store.create_clerk(db, username, PASSWORD, "Someone", [])


async def test_short_password_is_refused(db: Database) -> None:
    with pytest.raises(InvalidValue, match=r"password is too short \(7 characters\)"):
        await store.create_clerk(db, "bob", "1234567", "Bob", [])


async def test_authenticate(db: Database) -> None:
    clerk = await store.create_clerk(db, "alice", PASSWORD, "Alice", ["tax"], role="supervisor")
    found = await store.authenticate_clerk(db, "alice", PASSWORD)
    assert found is not None and found.id == clerk.id and found.role == "supervisor"
    assert await store.authenticate_clerk(db, "alice", PASSWORD + "!") is None
    assert await store.authenticate_clerk(db, "nobody", PASSWORD) is None
    assert await store.authenticate_clerk(db, "alice", "") is None


async def test_weak_hash_is_upgraded_at_sign_in(db: Database) -> None:
    clerk = await store.create_clerk(db, "alice", PASSWORD, "Alice", [])
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with db.sessions() as session:
        await session.execute(update(Clerk).where(Clerk.id == clerk.id).values(password_hash=weak))
        await session.commit()
    assert await store.authenticate_clerk(db, "alice", PASSWORD) is not None
    stored = (await store.get_clerk(db, clerk.id)).password_hash
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)
    assert await store.authenticate_clerk(db, "alice", PASSWORD) is not None


async def test_unknown_clerk_id(db: Database) -> None:
    with pytest.raises(NotFound, match="no clerk with id 999"):
        await store.get_clerk(db, 999)


# --- terminals ------------------------------------------------------------------------


async def test_terminal_token_is_found_by_hash_only(db: Database) -> None:
    terminal, token = await store.register_terminal(db, "kiosk-1", "Wan Chai hall 2")
    assert len(token) >= 40
    assert terminal.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert terminal.last_seen_at is None
    found = await store.find_terminal_by_token(db, token)
    assert found is not None and found.id == terminal.id and found.location == "Wan Chai hall 2"
    assert found.last_seen_at is not None and found.last_seen_at.tzinfo is UTC
    # kept to the minute: a second use within it writes nothing (a handshake is one read)
    again = await store.find_terminal_by_token(db, token)
    assert again is not None and again.last_seen_at == found.last_seen_at
    assert await store.find_terminal_by_token(db, token + "x") is None
    assert await store.find_terminal_by_token(db, "") is None
    async with db.sessions() as session:
        stored = (await session.scalars(select(Terminal))).one()
    assert stored.last_seen_at is not None
    assert token not in (stored.token_hash, stored.name, stored.location)


async def test_duplicate_terminal_name_is_refused_by_name(db: Database) -> None:
    _, first = await store.register_terminal(db, "kiosk-1")
    with pytest.raises(DuplicateEntry, match="terminal 'kiosk-1' is already registered"):
        await store.register_terminal(db, "kiosk-1")
    _, second = await store.register_terminal(db, "kiosk-2")
    assert first != second


async def test_empty_terminal_name_is_refused(db: Database) -> None:
    with pytest.raises(InvalidValue, match="terminal name must be 1 to 128 characters, got 0"):
        await store.register_terminal(db, "")


# --- catalogue ------------------------------------------------------------------------


async def test_sync_catalogue_twice_updates_in_place(db: Database) -> None:
    await catalogue(db)
    await store.sync_catalogue(
        db,
        [("tax", {"en": "Inland Revenue"}), ("lands", {"en": "Lands"})],
        [
            ("tax-registration", "tax", {"en": "Business registration"}, [], False),
            ("land-search", "lands", {"en": "Land search"}, [{"id": "plan"}], False),
        ],
    )
    async with db.sessions() as session:
        departments = {d.id: d for d in await session.scalars(select(Department))}
        services = {s.id: s for s in await session.scalars(select(Service))}
    assert departments["tax"].names == {"en": "Inland Revenue"}
    assert set(departments) == {"tax", "lands"}
    registration = services["tax-registration"]
    assert registration.names == {"en": "Business registration"}
    assert registration.materials == [] and registration.second_approval is False
    assert services["land-search"].materials == [{"id": "plan"}]


# --- sessions -------------------------------------------------------------------------


async def test_create_and_get_session(db: Database) -> None:
    row = await new_session(db)
    assert len(row.id) == 32 and int(row.id, 16) >= 0
    assert row.state == "queued" and row.clerk_id is None and row.language == "zh-Hant"
    loaded = await store.get_session(db, row.id)
    assert loaded.created_at == row.created_at and loaded.created_at.tzinfo is UTC


async def test_update_session(db: Database) -> None:
    row = await new_session(db)
    clerk = await store.create_clerk(db, "alice", PASSWORD, "Alice", ["tax"])
    now = datetime.now(UTC)
    await store.update_session(db, row.id, state="offered", offered_at=now, clerk_id=clerk.id)
    await store.update_session(db, row.id, state="ended", ended_at=now, end_reason="done")
    loaded = await store.get_session(db, row.id)
    assert (loaded.state, loaded.clerk_id, loaded.end_reason) == ("ended", clerk.id, "done")
    assert loaded.offered_at == now and loaded.ended_at == now
    await store.update_session(db, row.id)  # nothing to change is fine for a known id


async def test_update_session_refuses_unknown_and_fixed_fields(db: Database) -> None:
    row = await new_session(db)
    with pytest.raises(InvalidValue, match="session field 'colour' cannot be updated; use one of"):
        await store.update_session(db, row.id, state="offered", colour="red")
    with pytest.raises(InvalidValue, match="session field 'id' cannot be updated"):
        await store.update_session(db, row.id, id="x" * 32)
    with pytest.raises(InvalidValue, match="'ended_at' needs a timezone-aware datetime"):
        await store.update_session(db, row.id, ended_at=datetime(2025, 1, 1))
    assert (await store.get_session(db, row.id)).state == "queued"


async def test_update_session_with_unknown_clerk_names_it(db: Database) -> None:
    row = await new_session(db)
    with pytest.raises(NotFound, match="'clerk_id': 999"):
        await store.update_session(db, row.id, clerk_id=999)


async def test_missing_session(db: Database) -> None:
    with pytest.raises(NotFound, match="no session 'nope'"):
        await store.get_session(db, "nope")
    with pytest.raises(NotFound, match="no session 'nope' to update"):
        await store.update_session(db, "nope", state="ended")
    with pytest.raises(NotFound, match="no session 'nope' to update"):
        await store.update_session(db, "nope")


async def test_create_session_needs_known_terminal_and_service(db: Database) -> None:
    await catalogue(db)
    terminal, _ = await store.register_terminal(db, "kiosk-1")
    with pytest.raises(NotFound, match="no terminal with id 999"):
        await store.create_session(db, 999, "tax-registration", "en")
    with pytest.raises(NotFound, match="no service 'no-such'"):
        await store.create_session(db, terminal.id, "no-such", "en")


async def test_care_mode_and_rating(db: Database) -> None:
    row = await new_session(db)
    assert row.care_mode is False and row.rating is None and row.rating_comment is None
    terminal, _ = await store.register_terminal(db, "kiosk-care")
    cared = await store.create_session(db, terminal.id, "tax-registration", "en", care_mode=True)
    assert (await store.get_session(db, cared.id)).care_mode is True
    await store.update_session(db, row.id, rating=5, rating_comment="很好 " * 200)
    loaded = await store.get_session(db, row.id)
    assert loaded.rating == 5 and loaded.rating_comment == "很好 " * 200


@pytest.mark.parametrize("rating", [0, 6, "5"])
async def test_rating_out_of_range_is_refused(db: Database, rating: object) -> None:
    row = await new_session(db)
    with pytest.raises(InvalidValue, match="'rating' must be 1 to 5"):
        await store.update_session(db, row.id, rating=rating)


async def test_database_refuses_rating_out_of_range_too(db: Database) -> None:
    row = await new_session(db)
    async with db.sessions() as session:
        with pytest.raises(IntegrityError, match="rating_range"):
            await session.execute(
                update(CallSession).where(CallSession.id == row.id).values(rating=9)
            )
