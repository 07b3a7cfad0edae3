"""What an uploaded document is, judged by its bytes, and whether it may be stored.

:func:`check_document` sniffs the type from the content (never the file name), then opens
the file the way a reader would: Pillow for JPEG and PNG (dimensions checked before any
pixel is decoded, and what the decode would cost in memory, so a decompression bomb is
refused cheaply; bytes after the image's end are refused), pikepdf for PDF (encrypted,
damaged, carrying JavaScript, launch actions, event actions, XFA or embedded files). Each refusal is a :class:`DocumentRefused` whose ``code``
the server turns into a sentence in the applicant's language. CPU work: call it in a thread.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pikepdf
from PIL import Image, UnidentifiedImageError

from media.errors import DocumentRefused

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 600-dpi A3 scan is ~70 MP of which we never need more than 9
MAX_PDF_PAGES = 200
# the memory a decode may take (pixels x channels x bytes per sample): a PNG within the
# pixel limit can still ask for hundreds of MB (16-bit RGBA); a 600-dpi A4 colour scan
# needs 105 MB
MAX_DECODED_BYTES = 128 * 1024 * 1024
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"

JPEG = "image/jpeg"
PNG = "image/png"
PDF = "application/pdf"

_JS_KEYS = ("/JavaScript", "/JS")
# what makes a PDF do things when opened: run a program, act on events, carry XFA forms or
# other files
_ACTIVE_KEYS = ("/AA", "/XFA", "/EmbeddedFiles", "/EF")
_ACTIVE_ACTIONS = ("/Launch", "/ImportData", "/GoToE")


@dataclass(frozen=True)
class CheckedDocument:
    """A document that passed: its type, and pages (PDF) or pixel size (images)."""

    content_type: str
    pages: int
    width: int = 0
    height: int = 0


def sniff(data: bytes) -> str | None:
    """The content type told by the first bytes, or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    # PDF readers accept the header within the first KiB; so do we, but no further.
    if b"%PDF-" in data[:1024]:
        return PDF
    return None


def check_size(total: int, limit: int = MAX_DOCUMENT_BYTES) -> None:
    """Refuse an empty file or one over ``limit`` bytes before any of it is read."""
    if total == 0:
        raise DocumentRefused("empty_file", "the file is empty (0 bytes)")
    if total > limit:
        raise DocumentRefused(
            "too_large",
            f"the file is {total} bytes; at most {limit} bytes are accepted",
            limit_mb=limit // (1024 * 1024),
        )


def check_document(data: bytes, limit: int = MAX_DOCUMENT_BYTES) -> CheckedDocument:
    """Sniff and open ``data``; raises :class:`DocumentRefused` naming what is wrong."""
    check_size(len(data), limit)
    kind = sniff(data)
    if kind is None:
        raise DocumentRefused("wrong_type", "the file is not a PDF, JPEG or PNG (by its content)")
    if kind == PDF:
        return _check_pdf(data)
    return _check_image(data, kind)


def jpeg_end(data: bytes) -> int | None:
    """Where the JPEG in ``data`` ends (just after its EOI marker), or None if it does not."""
    at = 2
    size = len(data)
    while at + 4 <= size:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:
            return at + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        at += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while at + 1 < size:
                if data[at] == 0xFF and data[at + 1] != 0 and not 0xD0 <= data[at + 1] <= 0xD7:
                    break
                at += 1
    return None


def _decoded_bytes(data: bytes, kind: str, width: int, height: int) -> int:
    if kind == PNG and len(data) >= 26:
        depth, colour = data[24], data[25]
        channels = _PNG_CHANNELS.get(colour, 4)
        return width * height * channels * max(1, (depth + 7) // 8)
    # JPEG is decoded at 1/8 scale (see below), at most 4 components (CMYK)
    return max(1, width // 8) * max(1, height // 8) * 4


def _check_trailer(data: bytes, kind: str) -> None:
    """Refuse bytes after the image's end (a ZIP behind a JPEG would be stored and served)."""
    end = jpeg_end(data) if kind == JPEG else None
    if kind == JPEG and end is not None and end != len(data):
        raise DocumentRefused(
            "trailing_data",
            f"the JPEG ends at byte {end} but the file goes on for {len(data) - end} more",
        )
    if kind == PNG and not data.endswith(_PNG_END):
        raise DocumentRefused("trailing_data", "the PNG does not end with its IEND chunk")


def _check_image(data: bytes, kind: str) -> CheckedDocument:
    _check_trailer(data, kind)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DocumentRefused(
                        "too_many_pixels",
                        f"the image is {width}x{height} pixels; at most {MAX_PIXELS} are accepted",
                        megapixels=MAX_PIXELS // 1_000_000,
                    )
                # the decode's memory, from the header, before a pixel is decoded
                if _decoded_bytes(data, kind, width, height) > MAX_DECODED_BYTES:
                    raise DocumentRefused(
                        "too_many_pixels",
                        f"the image ({width}x{height}, {image.mode}) would take more than"
                        f" {MAX_DECODED_BYTES // 2**20} MiB to decode",
                        megapixels=MAX_PIXELS // 1_000_000,
                    )
                if kind == JPEG:
                    # JPEG decodes at 1/8 scale reading every byte of the entropy-coded data:
                    # a truncated or damaged file still fails, at a tenth of the work
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()  # decodes the pixels: a truncated or damaged file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DocumentRefused(
            "too_many_pixels", f"the image is too large to open safely: {exc}",
            megapixels=MAX_PIXELS // 1_000_000,
        ) from exc  # fmt: skip
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DocumentRefused(
            "corrupt_image", f"the image is damaged and cannot be read: {exc}"
        ) from exc
    return CheckedDocument(kind, 1, width, height)


def _check_pdf(data: bytes) -> CheckedDocument:
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if pdf.is_encrypted:
                raise DocumentRefused("encrypted_pdf", "the PDF is encrypted")
            pages = len(pdf.pages)
            if pages == 0:
                raise DocumentRefused("corrupt_pdf", "the PDF has no pages")
            if pages > MAX_PDF_PAGES:
                raise DocumentRefused(
                    "too_many_pages", f"the PDF has {pages} pages; at most {MAX_PDF_PAGES}",
                    pages=MAX_PDF_PAGES,
                )  # fmt: skip
            if _has_javascript(pdf):
                raise DocumentRefused("pdf_javascript", "the PDF contains JavaScript")
            active = _active_content(pdf)
            if active is not None:
                raise DocumentRefused(
                    "pdf_active_content", f"the PDF contains {active}, which is not accepted"
                )
    except pikepdf.PasswordError as exc:
        raise DocumentRefused("encrypted_pdf", "the PDF is protected by a password") from exc
    except pikepdf.PdfError as exc:
        raise DocumentRefused(
            "corrupt_pdf", f"the PDF is damaged and cannot be read: {exc}"
        ) from exc
    return CheckedDocument(PDF, pages)


def _has_javascript(pdf: pikepdf.Pdf) -> bool:
    """True if any object of the PDF is or names JavaScript (actions, name trees, forms)."""
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary):
            if any(key in obj for key in _JS_KEYS):
                return True
            if obj.get("/S") == pikepdf.Name.JavaScript:
                return True
    names = pdf.Root.get("/Names")
    return isinstance(names, pikepdf.Dictionary) and "/JavaScript" in names


def _direct(obj: object, depth: int = 0) -> Iterator[pikepdf.Dictionary]:
    """``obj`` and the dictionaries nested in it directly (not through references, which
    :attr:`pikepdf.Pdf.objects` yields on their own)."""
    if depth > 32:
        return
    if isinstance(obj, pikepdf.Dictionary):
        yield obj
        children: Iterable[object] = (obj.get(key) for key in obj.keys())  # noqa: SIM118
    elif isinstance(obj, pikepdf.Array):
        children = iter(obj)
    else:
        return
    for child in children:
        if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect:
            yield from _direct(child, depth + 1)


def _active_content(pdf: pikepdf.Pdf) -> str | None:
    """What in the PDF would act when opened (launch a program, run on events, an XFA form,
    embedded files), or None."""
    for top in pdf.objects:
        for obj in _direct(top):
            for key in _ACTIVE_KEYS:
                if key in obj:
                    return key
            action = obj.get("/S")
            if isinstance(action, pikepdf.Name) and str(action) in _ACTIVE_ACTIONS:
                return str(action)
            if obj.get("/Type") == pikepdf.Name("/EmbeddedFile"):
                return "/EmbeddedFile"
    return None
