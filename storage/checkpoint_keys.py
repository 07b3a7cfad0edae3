"""The checkpoint signing key and the public keys an auditor pins.

The server signs checkpoints with an Ed25519 key (``checkpoint_key_file``, by default
``DATA_DIR/audit-signing.pem``; keep it outside the data directory in production so that
whoever copies the database and the data directory cannot sign). A verifier never takes the
key from the data it verifies: it is given *pinned* keys — PEM public key files or
fingerprints (SHA-256 of the raw 32-byte public key, hex) — from outside, and a checkpoint
signed by any other key does not count.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from storage.errors import InvalidValue

FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The checkpoint signing key at ``path`` (PEM), made on first use with mode 0600."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidValue(f"{path} is not an Ed25519 private key; remove it to make a new one")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # written under a temporary name, 0600 from the start, then linked into place: never
    # readable by others, and two processes starting at once end up with one key
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return load_or_create_key(path)  # another process made it first: use theirs
    finally:
        temporary.unlink()
    return key


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of the public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SHA-256 hex of the raw public key: the id a checkpoint records and an auditor pins."""
    return hashlib.sha256(raw_public(key)).hexdigest()


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public half as PEM text (what an auditor pins with ``--key``)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_from_b64(text: str) -> Ed25519PublicKey:
    """A public key from its raw bytes in base64 (as stored beside each checkpoint)."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (a private key file gives its public half)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidValue(
            f"cannot read the audit key {path}: {exc.strerror}; check --key"
        ) from exc
    loaded: object
    try:
        loaded = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            loaded = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidValue(
                f"{path} is not a PEM Ed25519 key; give the file `vcounter audit key` printed"
            ) from exc
    if isinstance(loaded, Ed25519PrivateKey):
        return loaded.public_key()
    if not isinstance(loaded, Ed25519PublicKey):
        raise InvalidValue(f"{path} holds a {type(loaded).__name__}, not an Ed25519 public key")
    return loaded


@dataclass(frozen=True)
class PinnedKeys:
    """The checkpoint keys a verifier trusts, by fingerprint; given from outside the data."""

    fingerprints: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: list[str] | tuple[str, ...]) -> PinnedKeys:
        """Each entry is a 64-hex fingerprint or a path to a PEM public key file."""
        found: set[str] = set()
        for entry in entries:
            text = entry.strip().lower().replace(":", "")
            if FINGERPRINT.match(text):
                found.add(text)
            else:
                found.add(fingerprint(load_public_key(Path(entry.strip()))))
        return cls(frozenset(found))

    def __bool__(self) -> bool:
        return bool(self.fingerprints)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.fingerprints

    def describe(self) -> str:
        """The pinned fingerprints, shortened, for messages."""
        return ", ".join(sorted(f[:16] + "…" for f in self.fingerprints)) or "none"
