"""The departments' seal keys: a development CA and one key and certificate per department.

``vcounter keys init`` (and the server on first start) writes, under ``data_dir/keys``::

    ca.pem, ca-key.pem                    the development CA (self-signed, 10 years)
    departments/ID.pem, ID-key.pem        each department's seal certificate and key

A real key and certificate configured for a department (setting ``seals``) is used instead
of the development one, and its chain's root is trusted when verifying.
ECDSA P-256: a key is made in microseconds and every PAdES validator accepts it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict

from signaling.paperwork.errors import KeyMaterialError

log = logging.getLogger(__name__)

CA_DAYS = 3650
SEAL_DAYS = 825


class SealFiles(BaseModel):
    """A real seal configured for one department: PEM key, certificate and chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Path
    cert: Path
    chain: list[Path] = []
    # the root to trust when verifying this department's documents (default: last of chain)
    root: Path | None = None
    passphrase_env: str | None = None


@dataclass(frozen=True)
class Seal:
    """Where one department's key and certificate are, and which roots vouch for it."""

    department_id: str
    key: Path
    cert: Path
    chain: tuple[Path, ...]
    passphrase: bytes | None = None


def keys_dir(data_dir: Path) -> Path:
    """Where the development CA and department keys live."""
    return data_dir / "keys"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # created 0600 from the start: the key is never readable by others, not even briefly
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vcounter development"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ensure_ca(root: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = root / "ca.pem", root / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = _name("vcounter development CA", "certificate authority")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("development seal CA created in %s", root)
    return cert, key


def _ensure_department(
    root: Path, department_id: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> bool:
    cert_path = root / "departments" / f"{department_id}.pem"
    key_path = root / "departments" / f"{department_id}-key.pem"
    if cert_path.exists() and key_path.exists():
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{department_id} seal", department_id))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SEAL_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


def init_keys(data_dir: Path, department_ids: list[str]) -> list[str]:
    """Create the development CA and any missing department keys; returns the ones created."""
    root = keys_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ensure_ca(root)
    made = [d for d in department_ids if _ensure_department(root, d, ca, ca_key)]
    if made:
        log.info("seal keys created for %d departments in %s", len(made), root)
    return made


def seal_for(data_dir: Path, department_id: str, configured: dict[str, SealFiles]) -> Seal:
    """The seal of ``department_id``: the configured real one, else the development one."""
    real = configured.get(department_id)
    if real is not None:
        for path in (real.key, real.cert, *real.chain):
            if not path.is_file():
                raise KeyMaterialError(
                    f"the seal configured for {department_id} names {path}, which does not"
                    " exist; fix setting seals.{department_id}"
                )
        passphrase = None
        if real.passphrase_env:
            value = os.environ.get(real.passphrase_env)
            if value is None:
                raise KeyMaterialError(
                    f"the seal key of {department_id} needs the passphrase in"
                    f" ${real.passphrase_env}, which is not set"
                )
            passphrase = value.encode()
        return Seal(department_id, real.key, real.cert, tuple(real.chain), passphrase)
    if configured:
        # with real seals in use the development CA is neither made nor trusted, so nothing
        # sealed by it could pass as genuine
        raise KeyMaterialError(
            f"real seals are configured but none for department {department_id}; add"
            f" seals.{department_id} to the configuration"
        )
    root = keys_dir(data_dir)
    cert = root / "departments" / f"{department_id}.pem"
    key = root / "departments" / f"{department_id}-key.pem"
    if not (cert.is_file() and key.is_file()):
        raise KeyMaterialError(
            f"no seal key for department {department_id} in {root}; run `vcounter keys init`"
        )
    return Seal(department_id, key, cert, (root / "ca.pem",))


def trust_roots(data_dir: Path, configured: dict[str, SealFiles]) -> list[bytes]:
    """PEM roots whose seals verify: each configured seal's root, or, when no real seal is
    configured, the development CA (never both: a development seal must not pass as real)."""
    roots: list[bytes] = []
    dev = keys_dir(data_dir) / "ca.pem"
    if not configured and dev.is_file():
        roots.append(dev.read_bytes())
    for seal in configured.values():
        root = seal.root or (seal.chain[-1] if seal.chain else None)
        if root is not None and root.is_file():
            roots.append(root.read_bytes())
    return roots
