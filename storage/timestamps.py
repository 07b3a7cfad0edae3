"""RFC 3161 time stamps over checkpoints: ask a time-stamping authority, check its token.

A checkpoint's ``created_at`` is whatever the signer's clock said, and whoever holds the
signing key can say anything. A time-stamping authority (``tsa_url``) signs "this hash
existed at this time" with its own key, so a checkpoint made later and backdated shows:
its token's time is not its ``created_at``. The message imprint is the checkpoint's hash.
The client and the token check are pyHanko's (``HTTPTimeStamper``,
``validate_tst_signed_data``); trust in the TSA's certificate comes from ``tsa_roots``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import cms, pem, x509
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError

from storage.errors import StorageError


class TimestampFailed(StorageError):
    """The time-stamping authority could not be reached or refused the request."""

    code = "timestamp_failed"


async def request_token(url: str, digest: bytes, timeout_s: float = 10.0) -> str:
    """An RFC 3161 token (DER, base64) from the TSA at ``url`` over the SHA-256 ``digest``."""
    stamper = HTTPTimeStamper(url, timeout=timeout_s)
    try:
        token = await stamper.async_timestamp(digest, "sha256")
    except (OSError, TimestampRequestError) as exc:
        raise TimestampFailed(
            f"the time-stamping authority at {url} did not stamp the checkpoint ({exc});"
            " check tsa_url and that the TSA is reachable"
        ) from exc
    return base64.b64encode(token.dump()).decode()


def load_roots(paths: list[Path]) -> list[x509.Certificate]:
    """Certificates (PEM or DER) of the TSAs whose tokens are trusted."""
    roots = []
    for path in paths:
        data = path.read_bytes()
        der = pem.unarmor(data)[2] if pem.detect(data) else data
        roots.append(x509.Certificate.load(der))
    return roots


@dataclass(frozen=True)
class TokenCheck:
    """What a time-stamp token says and whether it holds."""

    ok: bool
    gen_time: datetime | None
    trusted: bool
    problem: str = ""


async def check_token(token_b64: str, digest: bytes, roots: list[x509.Certificate]) -> TokenCheck:
    """Check that ``token_b64`` stamps ``digest``, is intact and (with roots) comes from a trusted TSA."""
    try:
        info = cms.ContentInfo.load(base64.b64decode(token_b64))
        signed = info["content"]
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        status = await validate_tst_signed_data(signed, context, lambda _algo: digest)
    except (ValueError, TypeError, KeyError, SignatureValidationError) as exc:
        return TokenCheck(False, None, False, f"the time-stamp token cannot be read ({exc})")
    except (PathError, ValidationError) as exc:
        return TokenCheck(False, None, False, f"the TSA's certificate does not validate ({exc})")
    gen_time = status.get("timestamp")
    if not status.get("intact"):
        return TokenCheck(False, gen_time, False, "the time-stamp token is for another hash")
    if not status.get("valid"):
        return TokenCheck(False, gen_time, False, "the time-stamp token's signature is invalid")
    # pyHanko reports trust as a validation path without a trust problem
    trusted = bool(roots) and status.get("validation_path") is not None
    trusted = trusted and status.get("trust_problem_indic") is None
    if roots and not trusted:
        return TokenCheck(False, gen_time, False, "the time stamp is not from a trusted TSA")
    return TokenCheck(True, gen_time, trusted)
