"""Content-addressed blob store: documents, recording segments and sealed PDFs by SHA-256.

A blob's name is the SHA-256 hex of its bytes, so the same bytes are stored once and a
stored blob that no longer matches its name is detected on read. :class:`BlobStore` is the
swap point (a shared store for scale-out); :class:`FileBlobStore`, files on disk under
``data_dir/blobs``, is the embedded default.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from storage.errors import BlobCorrupt, InvalidValue, NotFound

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    """The SHA-256 hex digest of ``data``: a blob's name."""
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """``digest`` if it is a lowercase SHA-256 hex string; raises :class:`InvalidValue`."""
    if not SHA256_HEX.fullmatch(digest):
        raise InvalidValue(f"{digest!r} is not a SHA-256 hex digest (64 lowercase hex characters)")
    return digest


class BlobStore(Protocol):
    """Where blobs live; every method is safe to call from the event loop."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` (once, however often it is put); returns its SHA-256 hex."""
        ...

    async def get(self, digest: str) -> bytes:
        """The bytes named ``digest``; raises NotFound or BlobCorrupt."""
        ...

    async def exists(self, digest: str) -> bool:
        """True if a blob named ``digest`` is stored."""
        ...

    async def size(self, digest: str) -> int:
        """The stored blob's length in bytes; raises NotFound."""
        ...


class FileBlobStore:
    """Blobs as files ``root/ab/cdef...``; writes are atomic (temp file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the blob named ``digest`` is (or would be) on disk."""
        check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put, data)

    async def put_file(self, source: Path) -> str:
        """Store the file at ``source`` without reading it all into memory."""
        return await asyncio.to_thread(self._put_file, source)

    async def get(self, digest: str) -> bytes:
        return await asyncio.to_thread(self._get, digest)

    async def exists(self, digest: str) -> bool:
        return await asyncio.to_thread(self.path(digest).is_file)

    async def size(self, digest: str) -> int:
        path = self.path(digest)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {digest} in {self.root}") from exc

    async def verify(self, digest: str) -> None:
        """Re-hash the stored blob; raises :class:`BlobCorrupt` if its bytes changed."""
        await asyncio.to_thread(self._get, digest)

    def _put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.is_file():
            return digest
        self._write(target, iter((data,)))
        return digest

    def _put_file(self, source: Path) -> str:
        hasher = hashlib.sha256()
        with source.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        target = self.path(digest)
        if not target.is_file():
            with source.open("rb") as handle:
                self._write(target, iter(lambda: handle.read(_CHUNK), b""))
        return digest

    def _write(self, target: Path, chunks: Iterator[bytes]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same directory, so the rename is atomic: a reader sees the whole blob or none.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _get(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {digest} in {self.root}") from exc
        found = sha256_hex(data)
        if found != digest:
            raise BlobCorrupt(
                f"blob {digest} on disk hashes to {found}: it was changed after it was stored;"
                " restore it from a backup"
            )
        return data
