"""What an uploaded document is, judged by its bytes, and whether it may be stored.

:func:`check_document` sniffs the type from the content (never the file name), then opens
the file the way a reader would: Pillow for JPEG and PNG (dimensions checked before any
pixel is decoded, so a decompression bomb is refused cheaply), pikepdf for PDF (encrypted,
damaged, or carrying JavaScript). Each refusal is a :class:`DocumentRefused` whose ``code``
the server turns into a sentence in the applicant's language. CPU work: call it in a thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pikepdf
from PIL import Image, UnidentifiedImageError

from media.errors import DocumentRefused

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 600-dpi A3 scan is ~70 MP of which we never need more than 9
MAX_PDF_PAGES = 200

JPEG = "image/jpeg"
PNG = "image/png"
PDF = "application/pdf"

_JS_KEYS = ("/JavaScript", "/JS")


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


def _check_image(data: bytes, kind: str) -> CheckedDocument:
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
