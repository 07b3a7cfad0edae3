"""PAdES seals with pyHanko: ink on the form, the completion page, the department's seal.

A sealed document is the unsealed PDF's exact bytes followed by one incremental update
that draws the applicant's signature (vector strokes in the form's signature box), appends
the certificate of completion as a last page, states the chain head (and decision) it was
made from (:mod:`.claims`) and signs the whole file with the department's key: PAdES B-B,
or B-T with an RFC 3161 time stamp when a TSA is configured (``tsa_url``), with the
validation data pyHanko can gather offline (certificates, any revocation info: B-LT). So the sealed file *starts with* the form that was shown, which
anyone can check, and any later change breaks the seal.

Signing and validating are CPU work: call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import io
import itertools
import logging
from dataclasses import dataclass
from typing import Any

from asn1crypto import pem, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import RawContent
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signaling.paperwork import claims as seal_claims
from signaling.paperwork.errors import KeyMaterialError
from signaling.paperwork.forms import PAGE_H, PAGE_W, PageBox
from signaling.paperwork.seal_keys import Seal

log = logging.getLogger(__name__)

# ink: dark blue, round caps and joins; width follows pressure between these (points)
INK_RGB = (0.05, 0.1, 0.45)
MIN_WIDTH, MAX_WIDTH = 0.6, 2.6


@dataclass(frozen=True)
class InkPoint:
    x: float
    y: float
    t: float
    pressure: float


def ink_content(strokes: list[list[InkPoint]], width: float, height: float, box: PageBox) -> bytes:
    """A PDF content stream drawing ``strokes`` (canvas of ``width`` x ``height`` px) in ``box``."""
    scale = min(box.w / width, box.h / height)
    # centre the canvas in the box, keeping its aspect ratio
    off_x = box.x + (box.w - width * scale) / 2
    off_y = box.y + (box.h - height * scale) / 2
    r, g, b = INK_RGB
    ops = [f"q {r} {g} {b} RG 1 J 1 j"]
    for stroke in strokes:
        if len(stroke) == 1:
            stroke = [stroke[0], InkPoint(stroke[0].x + 0.5, stroke[0].y, stroke[0].t, 0.5)]
        for a, c in itertools.pairwise(stroke):
            pressure = max(0.0, min(1.0, (a.pressure + c.pressure) / 2 or 0.5))
            line = MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * pressure
            # canvas y grows downwards, PDF y upwards
            x1, y1 = off_x + a.x * scale, off_y + (height - a.y) * scale
            x2, y2 = off_x + c.x * scale, off_y + (height - c.y) * scale
            ops.append(f"{line:.2f} w {x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S")
    ops.append("Q")
    return "\n".join(ops).encode("ascii")


def _load_signer(seal: Seal) -> signers.SimpleSigner:
    try:
        signer = signers.SimpleSigner.load(
            str(seal.key),
            str(seal.cert),
            ca_chain_files=[str(p) for p in seal.chain],
            key_passphrase=seal.passphrase,
        )
    except (OSError, ValueError) as exc:
        raise KeyMaterialError(
            f"the seal key or certificate of {seal.department_id} cannot be read ({exc});"
            " check the files or run `vcounter keys init`"
        ) from exc
    if signer is None:
        raise KeyMaterialError(
            f"the seal key or certificate of {seal.department_id} ({seal.key}, {seal.cert})"
            " cannot be loaded; check the files and the passphrase"
        )
    return signer


def _append_page(writer: IncrementalPdfFileWriter, page_pdf: bytes) -> None:
    source = PdfFileReader(io.BytesIO(page_pdf))
    xobject = writer.import_page_as_xobject(source, 0)
    resources = generic.DictionaryObject(
        {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Cert"): xobject})}
    )
    contents = writer.add_object(generic.StreamObject(stream_data=b"q /Cert Do Q"))
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject(
                [generic.FloatObject(v) for v in (0, 0, PAGE_W, PAGE_H)]
            ),
            pdf_name("/Resources"): resources,
            pdf_name("/Contents"): contents,
        }
    )
    writer.insert_page(page)


def _long_term(tsa_url: str | None, roots: list[bytes] | None) -> dict[str, Any]:
    if not tsa_url:
        return {}
    # offline: the certificates the seal and the time stamp need, and whatever revocation
    # info they carry; nothing is fetched, so a CA without CRL/OCSP still seals
    context = ValidationContext(
        trust_roots=_roots(roots or []), allow_fetching=False, revocation_mode="soft-fail"
    )
    return {"embed_validation_info": True, "validation_context": context}


def seal_pdf(
    pdf: bytes,
    seal: Seal,
    field_name: str,
    *,
    ink: tuple[int, bytes] | None = None,
    completion: bytes | None = None,
    reason: str = "",
    claims: seal_claims.Claims | None = None,
    tsa_url: str | None = None,
    validation_roots: list[bytes] | None = None,
) -> bytes:
    """``pdf`` plus one signed incremental update: ``ink`` on a page, ``completion`` appended.

    With ``tsa_url`` the seal is time-stamped (PAdES B-T) and carries the validation data
    for ``validation_roots`` (the seal's and the TSA's roots) that can be had offline (B-LT).
    """
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if claims is not None:
        seal_claims.embed(writer, claims)
    if ink is not None:
        page, stream = ink
        content = RawContent(stream, box=BoxConstraints(width=PAGE_W, height=PAGE_H))
        content.add_to_page(writer, page)
    if completion is not None:
        _append_page(writer, completion)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        name=seal.department_id,
        **_long_term(tsa_url, validation_roots),
    )
    stamper = HTTPTimeStamper(tsa_url) if tsa_url else None
    out = signers.sign_pdf(writer, meta, signer=_load_signer(seal), timestamper=stamper)
    data: bytes = out.getvalue()
    log.info("sealed %s with %s (%d bytes)", field_name, seal.department_id, len(data))
    return data


@dataclass(frozen=True)
class SealCheck:
    """One embedded seal as pyHanko sees it."""

    field_name: str
    signer: str
    signed_at: str
    intact: bool
    valid: bool
    trusted: bool
    # the seal covers the whole file, with nothing added after it
    whole_file: bool
    # byte ranges the seal covers, as (start, length) pairs
    ranges: tuple[tuple[int, int], ...]
    summary: str
    # the RFC 3161 time of a PAdES B-T seal ("" for B-B); an invalid time stamp fails the seal
    timestamped_at: str = ""
    timestamp_ok: bool = True

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and self.whole_file and self.timestamp_ok


def _roots(pems: list[bytes]) -> list[x509.Certificate]:
    roots = []
    for data in pems:
        der = pem.unarmor(data)[2] if pem.detect(data) else data
        roots.append(x509.Certificate.load(der))
    return roots


def _only_validation_data(
    coverage: SignatureCoverageLevel | None, level: ModificationLevel | None, pdf: bytes
) -> bool:
    # a B-LT seal is followed by one revision holding its validation data (/DSS); pyHanko's
    # difference analysis says whether that is all a later revision added
    return (
        coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and level == ModificationLevel.LTA_UPDATES
        and pdf.rstrip().endswith(b"%%EOF")
    )


def check_seals(pdf: bytes, trust_roots: list[bytes]) -> list[SealCheck]:
    """Validate every seal in ``pdf`` against ``trust_roots``; raises ValueError if unreadable."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    context = ValidationContext(trust_roots=_roots(trust_roots), allow_fetching=False)
    checks = []
    for embedded in reader.embedded_signatures:
        status = validate_pdf_signature(embedded, context)
        byte_range: Any = embedded.sig_object["/ByteRange"]
        values = [int(v) for v in byte_range]
        ranges = tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))
        whole = ranges[-1][0] + ranges[-1][1] == len(pdf) or _only_validation_data(
            status.coverage, status.modification_level, pdf
        )
        signed_at = embedded.self_reported_timestamp
        stamp = status.timestamp_validity
        checks.append(
            SealCheck(
                field_name=str(embedded.field_name),
                signer=status.signing_cert.subject.human_friendly,
                signed_at=signed_at.isoformat() if signed_at else "",
                intact=bool(status.intact),
                valid=bool(status.valid),
                trusted=bool(status.trusted),
                whole_file=whole,
                ranges=ranges,
                summary=status.summary(),
                timestamped_at=stamp.timestamp.isoformat() if stamp is not None else "",
                timestamp_ok=stamp is None or bool(stamp.intact and stamp.valid),
            )
        )
    return checks
