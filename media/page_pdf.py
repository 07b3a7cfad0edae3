"""Multi-page materials as one PDF: the stored page JPEGs embedded as they are (img2pdf).

img2pdf puts each JPEG into the PDF without re-encoding it, so the PDF's pages are the
very bytes whose hashes are in the session's chain, and making it costs no image work.
"""

from __future__ import annotations

import contextlib
import io

import img2pdf
import pikepdf

from media.errors import PageImageError

A4_POINTS = (img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))


def assemble_pdf(pages: list[bytes], title: str = "") -> bytes:
    """One PDF with ``pages`` (JPEG or PNG bytes) in order, each fitted to an A4 page."""
    if not pages:
        raise PageImageError("a PDF needs at least one page; capture or import a page first")
    layout = img2pdf.get_layout_fun(A4_POINTS, fit=img2pdf.FitMode.into, auto_orient=True)
    try:
        pdf = img2pdf.convert(*pages, layout_fun=layout, title=title or None, producer="vcounter")
    except (
        img2pdf.ImageOpenError,
        img2pdf.PdfTooLargeError,
        img2pdf.AlphaChannelError,
        ValueError,
    ) as exc:
        raise PageImageError(f"the pages cannot be put into one PDF: {exc}") from exc
    assert isinstance(pdf, bytes)
    return pdf


def merge_documents(parts: list[tuple[str, bytes]], title: str = "") -> bytes:
    """One PDF of a material's documents in order: images become pages (img2pdf), PDFs are
    appended page by page (pikepdf). ``parts`` are ``(content_type, bytes)``."""
    if not parts:
        raise PageImageError("a PDF needs at least one page; capture or import a page first")
    if all(kind != "application/pdf" for kind, _ in parts):
        return assemble_pdf([data for _, data in parts], title)
    out = io.BytesIO()
    # qpdf copies a foreign page's stream data only when writing: the sources stay open
    with contextlib.ExitStack() as sources, pikepdf.new() as merged:
        for kind, data in parts:
            source = data if kind == "application/pdf" else assemble_pdf([data])
            pdf = sources.enter_context(pikepdf.open(io.BytesIO(source)))
            merged.pages.extend(pdf.pages)
        if title:
            merged.docinfo["/Title"] = title
        merged.save(out)
    return out.getvalue()
