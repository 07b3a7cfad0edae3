"""The content-addressed blob store on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.blobs import FileBlobStore, sha256_hex
from storage.errors import BlobCorrupt, InvalidValue, NotFound


async def test_put_names_the_blob_by_its_hash_and_stores_it_once(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    first = await blobs.put(b"page one")
    again = await blobs.put(b"page one")
    assert first == again == sha256_hex(b"page one")
    assert await blobs.get(first) == b"page one"
    assert await blobs.size(first) == 8
    assert blobs.path(first).read_bytes() == b"page one"


async def test_put_file_matches_put(tmp_path: Path) -> None:
    source = tmp_path / "scan.bin"
    source.write_bytes(bytes(range(256)) * 9000)
    blobs = FileBlobStore(tmp_path / "blobs")
    digest = await blobs.put_file(source)
    assert digest == sha256_hex(source.read_bytes())
    assert await blobs.get(digest) == source.read_bytes()


async def test_a_changed_blob_is_reported_on_read(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    digest = await blobs.put(b"original bytes")
    blobs.path(digest).write_bytes(b"original bytez")
    with pytest.raises(BlobCorrupt, match=f"blob {digest} on disk hashes to"):
        await blobs.get(digest)


async def test_unknown_and_malformed_names(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    with pytest.raises(NotFound, match="no blob"):
        await blobs.get("0" * 64)
    assert not await blobs.exists("0" * 64)
    with pytest.raises(InvalidValue, match="not a SHA-256 hex digest"):
        await blobs.get("../../etc/passwd")
