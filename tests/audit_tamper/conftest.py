"""A store with a few sessions, staff actions and checkpoints, set up the way an operator should:
the checkpoint key outside the data directory, a witness directory, a local RFC 3161 TSA."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from signaling.checkpointer import sign_checkpoint
from signaling.cli import main
from signaling.settings import Settings
from storage import store
from storage.audit import AuditLog
from storage.checkpoint_keys import fingerprint, load_or_create_key
from storage.db import Database
from storage.staff_audit import StaffLog
from tests.audit_tamper.attacker import Attacker
from tests.tsa import LocalTsa, local_tsa


@dataclass
class Site:
    settings: Settings
    db: Database
    tsa: LocalTsa
    sessions: list[str]
    fingerprint: str

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def witness(self) -> Path:
        assert self.settings.audit_witness
        return Path(self.settings.audit_witness)

    @property
    def attacker(self) -> Attacker:
        return Attacker(self.data_dir / "vcounter.db")

    def operator_env(self) -> dict[str, str]:
        """How the operator's server and CLI are configured (environment variables)."""
        s = self.settings
        return {
            "VCOUNTER_CHECKPOINT_KEY_FILE": str(s.checkpoint_key_path),
            "VCOUNTER_AUDIT_WITNESS": str(s.audit_witness),
            "VCOUNTER_TSA_URL": str(s.tsa_url),
            "VCOUNTER_TSA_ROOTS": json.dumps([str(p) for p in s.tsa_roots]),
            "VCOUNTER_AUDIT_PUBLIC_KEYS": json.dumps([self.fingerprint]),
        }

    def auditor_flags(self) -> list[str]:
        """What an auditor brings from outside the data: key, witness, TSA root."""
        return [
            "--fingerprint", self.fingerprint, "--witness", str(self.witness),
            "--tsa-root", str(self.tsa.cert_path),
        ]  # fmt: skip

    async def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        argv = ["--data-dir", str(self.data_dir), *args]
        # the CLI runs its own event loop, so it gets a thread of its own
        return await asyncio.to_thread(CliRunner().invoke, main, argv, env=env)

    async def verify(self, *args: str) -> Result:
        """`vcounter audit verify` as the auditor runs it."""
        return await self.cli("audit", "verify", *args, *self.auditor_flags())

    async def checkpoint(self) -> None:
        """What the server's checkpointer does every interval."""
        await sign_checkpoint(self.db, self.settings)


async def _session(db: Database, n: int) -> str:
    terminal, _ = await store.register_terminal(db, f"kiosk-{n}")
    row = await store.create_session(db, terminal.id, "s1", "en")
    for step in range(4):
        await AuditLog(db).append(row.id, "step", "server", {"n": step})
    return row.id


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with local_tsa(tmp_path / "tsa") as tsa:
        settings = Settings(
            data_dir=tmp_path / "data",
            checkpoint_key_file=tmp_path / "operator" / "audit-signing.pem",
            audit_witness=str(tmp_path / "witness"),
            tsa_url=tsa.url,
            tsa_roots=[tsa.cert_path],
        )
        key = load_or_create_key(settings.checkpoint_key_path)
        settings.audit_public_keys.append(fingerprint(key))
        async with Database(settings.db_url) as db:
            await db.upgrade()
            await store.sync_catalogue(
                db, [("d", {"en": "D"})], [("s1", "d", {"en": "S"}, [], False)]
            )
            sessions = [await _session(db, 1), await _session(db, 2)]
            await StaffLog(db).append("supervisor:sue", "replay", {}, sessions[0])
            await StaffLog(db).append("supervisor:sue", "export", {}, sessions[1])
            running = Site(settings, db, tsa, sessions, fingerprint(key))
            await running.checkpoint()
            await AuditLog(db).append(sessions[0], "step", "server", {"n": 4})
            await StaffLog(db).append("supervisor:sue", "live", {})
            await running.checkpoint()
            yield running
