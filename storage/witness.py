"""Publishing checkpoints outside the database: an append-only witness.

Whoever holds the database can delete checkpoints and have the server sign fresh ones over
a rewritten chain. A copy of every checkpoint kept somewhere they cannot rewrite shows it:
the witness holds a checkpoint the database no longer has, or a different one at the same
place. The operator names the witness (``audit_witness``):

* a directory, ideally on another machine or a write-once mount: one file per checkpoint,
  ``0000000042.json``, created exclusively, never overwritten;
* an ``http(s)://`` URL: each checkpoint is POSTed as JSON; GET answers the JSON list of
  what it holds (the contract a witness service implements).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from storage.errors import StorageError


class WitnessError(StorageError):
    """The witness refused a checkpoint or cannot be read."""

    code = "witness_error"


class Witness(Protocol):
    """Somewhere outside the database that keeps every checkpoint record."""

    async def publish(self, record: dict[str, Any]) -> None:
        """Keep ``record``; raise :class:`WitnessError` if one is already kept at its seq."""
        ...

    async def records(self) -> list[dict[str, Any]]:
        """Every record kept, in seq order."""
        ...


class DirectoryWitness:
    """One JSON file per checkpoint in a directory; an existing file is never replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"DirectoryWitness({str(self.path)!r})"

    def _write(self, record: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / f"{int(record['seq']):010d}.json"
        data = json.dumps(record, sort_keys=True, indent=1).encode()
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError as exc:
            kept = json.loads(target.read_bytes())
            if kept.get("hash") == record.get("hash"):
                return  # the same checkpoint published twice: nothing to do
            raise WitnessError(
                f"the witness {self.path} already holds a different checkpoint {record['seq']}"
                f" (hash {str(kept.get('hash'))[:16]}…); checkpoints were deleted or rewritten"
                " in the database: do not sign over it, investigate"
            ) from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.is_dir():
            return []
        out = []
        for file in sorted(self.path.glob("*.json")):
            try:
                out.append(json.loads(file.read_bytes()))
            except ValueError as exc:
                raise WitnessError(
                    f"witness file {file} is not a checkpoint record; it was damaged"
                ) from exc
        return sorted(out, key=lambda r: int(r.get("seq", 0)))

    async def publish(self, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write, record)

    async def records(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._read)


class HttpWitness:
    """A witness service: POST a record as JSON, GET the list of records."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    def __repr__(self) -> str:
        return f"HttpWitness({self.url!r})"

    async def publish(self, record: dict[str, Any]) -> None:
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as http,
                http.post(self.url, json=record) as response,
            ):
                if response.status >= 300:
                    text = (await response.text())[:200]
                    raise WitnessError(
                        f"the witness {self.url} refused checkpoint {record['seq']}:"
                        f" HTTP {response.status} {text}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WitnessError(f"the witness {self.url} cannot be reached: {exc}") from exc

    async def records(self) -> list[dict[str, Any]]:
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as http,
                http.get(self.url) as response,
            ):
                response.raise_for_status()
                found = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise WitnessError(f"the witness {self.url} cannot be read: {exc}") from exc
        if not isinstance(found, list):
            raise WitnessError(f"the witness {self.url} did not answer a list of checkpoints")
        return sorted(found, key=lambda r: int(r.get("seq", 0)))


def witness_from(setting: str | None) -> Witness | None:
    """The witness an ``audit_witness`` setting names (a URL or a directory), if any."""
    if not setting:
        return None
    if setting.startswith(("http://", "https://")):
        return HttpWitness(setting)
    return DirectoryWitness(Path(setting))
