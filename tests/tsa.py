"""A local RFC 3161 time-stamping authority on loopback, for tests (pyHanko's DummyTimeStamper).

It answers ``application/timestamp-query`` POSTs like a real TSA, signing with a throwaway
RSA key certified by a throwaway root (``cert_path``) that the tests trust as the TSA root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper


@dataclass
class LocalTsa:
    url: str
    cert_path: Path
    requests: int = 0


def _usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=not sign_certs, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=sign_certs,
        crl_sign=sign_certs, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _tsa_identity() -> tuple[bytes, bytes, bytes]:
    """(root certificate, TSA certificate, TSA key), all DER: a root CA and its TSA."""
    now = datetime.now(UTC)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vcounter test TSA root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign_certs=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vcounter test TSA")]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = serialization.Encoding.DER
    return root.public_bytes(der), tsa.public_bytes(der), der_key


def _write_root(directory: Path, root_der: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tsa-root.pem"
    path.write_bytes(
        x509.load_der_x509_certificate(root_der).public_bytes(serialization.Encoding.PEM)
    )
    return path


@asynccontextmanager
async def local_tsa(directory: Path) -> AsyncIterator[LocalTsa]:
    """Run a TSA on a free loopback port; its certificate is written to ``directory``."""
    root_der, cert_der, key_der = _tsa_identity()
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert_der), tsa_key=keys.PrivateKeyInfo.load(key_der)
    )
    state = LocalTsa("", _write_root(directory, root_der))

    async def answer(request: web.Request) -> web.Response:
        state.requests += 1
        query = tsp.TimeStampReq.load(await request.read())
        reply = stamper.request_tsa_response(query)
        return web.Response(body=reply.dump(), content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield state
    finally:
        await runner.cleanup()
