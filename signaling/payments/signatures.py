"""Signed requests, responses and notifications of the payment provider's HTTP API.

Modelled on WeChat Pay v3: the merchant signs each request (``METHOD\\nPATH\\nTIMESTAMP\\n
NONCE\\nBODY\\n``) with its private key and names itself in ``Authorization``; the provider
signs each response and notification (``TIMESTAMP\\nNONCE\\nBODY\\n``) with its own key, which
the merchant pins from settings. Ed25519 (``cryptography``): small keys, deterministic
signatures, no parameters to get wrong.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from signaling.payments.errors import BadSignature, PaymentConfigError

SCHEME = "VCPAY-ED25519"
TIMESTAMP_HEADER = "Vcpay-Timestamp"
NONCE_HEADER = "Vcpay-Nonce"
SIGNATURE_HEADER = "Vcpay-Signature"
_AUTH = re.compile(r'(\w+)="([^"]*)"')


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key at ``path`` (PEM), made on first use with its public key
    beside it as ``<path>.pub``: the half the other side pins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(pem)
        path.chmod(0o600)
        public_path(path).write_bytes(public_pem(key.public_key()))
        return key
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise PaymentConfigError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise PaymentConfigError(f"{path} holds a {type(loaded).__name__}; payments need Ed25519")
    return loaded


def public_path(private: Path) -> Path:
    """Where :func:`load_or_create_key` writes the public half of ``private``."""
    return private.with_name(private.name + ".pub")


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A pinned Ed25519 public key (PEM); :class:`PaymentConfigError` naming the file if bad."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PaymentConfigError(f"cannot read the public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PaymentConfigError(f"{path} holds a {type(key).__name__}; payments need Ed25519")
    return key


def new_nonce() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Stamp:
    """The timestamp, nonce and signature that travel with one signed message."""

    timestamp: int
    nonce: str
    signature: str


def _sign(key: Ed25519PrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode())).decode()


def _check(key: Ed25519PublicKey, message: str, signature: str) -> None:
    try:
        key.verify(base64.b64decode(signature, validate=True), message.encode())
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("the signature does not verify with the pinned key") from exc


def request_message(method: str, path: str, timestamp: int, nonce: str, body: str) -> str:
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body}\n"


def body_message(timestamp: int, nonce: str, body: str) -> str:
    return f"{timestamp}\n{nonce}\n{body}\n"


def authorization(key: Ed25519PrivateKey, merchant: str, method: str, path: str, body: str) -> str:
    """The ``Authorization`` header of a merchant request to the provider."""
    timestamp, nonce = int(time.time()), new_nonce()
    signature = _sign(key, request_message(method, path, timestamp, nonce, body))
    return (
        f'{SCHEME} mchid="{merchant}",nonce_str="{nonce}",timestamp="{timestamp}",'
        f'signature="{signature}"'
    )


@dataclass(frozen=True)
class MerchantAuth:
    merchant: str
    stamp: Stamp


def parse_authorization(header: str) -> MerchantAuth:
    """The parts of a merchant's ``Authorization``; :class:`BadSignature` if malformed."""
    scheme, _, rest = header.partition(" ")
    fields = dict(_AUTH.findall(rest))
    try:
        if scheme != SCHEME:
            raise KeyError("scheme")
        stamp = Stamp(int(fields["timestamp"]), fields["nonce_str"], fields["signature"])
        return MerchantAuth(fields["mchid"], stamp)
    except (KeyError, ValueError) as exc:
        raise BadSignature(f"the Authorization header is not {SCHEME} with mchid, nonce_str,"
                           " timestamp and signature") from exc  # fmt: skip


def check_request(
    key: Ed25519PublicKey, auth: MerchantAuth, method: str, path: str, body: str
) -> None:
    """Raise :class:`BadSignature` unless the merchant signed this request."""
    s = auth.stamp
    _check(key, request_message(method, path, s.timestamp, s.nonce, body), s.signature)


def sign_body(key: Ed25519PrivateKey, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers that sign a provider response or notification body (now, unless
    ``timestamp`` says when)."""
    timestamp, nonce = timestamp or int(time.time()), new_nonce()
    return {
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: _sign(key, body_message(timestamp, nonce, body)),
    }


def body_stamp(headers: Mapping[str, str]) -> Stamp:
    """The stamp of a provider-signed body from its headers; :class:`BadSignature` if absent."""
    try:
        return Stamp(
            int(headers[TIMESTAMP_HEADER]), headers[NONCE_HEADER], headers[SIGNATURE_HEADER]
        )
    except (KeyError, ValueError) as exc:
        raise BadSignature(
            f"the {TIMESTAMP_HEADER}, {NONCE_HEADER} and {SIGNATURE_HEADER} headers are missing"
            " or malformed"
        ) from exc


def check_body(key: Ed25519PublicKey, stamp: Stamp, body: str) -> None:
    """Raise :class:`BadSignature` unless the provider signed ``body`` with this stamp."""
    if not stamp.nonce:
        raise BadSignature(f"the {NONCE_HEADER} header is missing")
    _check(key, body_message(stamp.timestamp, stamp.nonce, body), stamp.signature)
