"""Hole 7 and 8: what an upload may cost and carry, and partial uploads kept in bounds."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import pikepdf
import pytest
from aiohttp import web
from PIL import Image

from media.doc_checks import check_document
from media.errors import DocumentRefused
from signaling.uploads import UploadArea


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, depth: int, colour: int) -> bytes:
    """A PNG whose header claims this size; its pixel data is a stub never decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def test_a_jpeg_with_a_zip_behind_it_is_refused() -> None:
    jpeg = _jpeg()
    assert check_document(jpeg).content_type == "image/jpeg"
    with pytest.raises(DocumentRefused) as refused:
        check_document(jpeg + b"PK\x03\x04" + b"zip archive inside" * 20)
    assert refused.value.code == "trailing_data"


def test_a_png_that_would_decode_to_hundreds_of_mb_is_refused_from_its_header() -> None:
    # 4200 x 4200 = 17.6 MP, under the pixel limit; 16-bit RGBA makes it 141 MB decoded
    bomb = _png_header(4200, 4200, 16, 6)
    started = time.process_time()
    with pytest.raises(DocumentRefused) as refused:
        check_document(bomb)
    assert refused.value.code == "too_many_pixels" and "to decode" in refused.value.message
    assert time.process_time() - started < 5  # refused from the header, not by decoding
    with pytest.raises(DocumentRefused) as refused:
        check_document(bomb + b"trailer")
    assert refused.value.code == "trailing_data"


def _pdf(change: object) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    change(pdf)  # type: ignore[operator]
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _launch(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.Launch, F="calc.exe")


def _page_actions(pdf: pikepdf.Pdf) -> None:
    pdf.pages[0].obj.AA = pikepdf.Dictionary(
        O=pikepdf.Dictionary(S=pikepdf.Name.URI, URI="http://evil.example")
    )


def _xfa(pdf: pikepdf.Pdf) -> None:
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=pikepdf.Array())


def _attachment(pdf: pikepdf.Pdf) -> None:
    pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ not really")


@pytest.mark.parametrize("change", [_launch, _page_actions, _xfa, _attachment])
def test_pdfs_that_act_when_opened_are_refused(change: object) -> None:
    assert check_document(_pdf(lambda pdf: None)).pages == 1
    with pytest.raises(DocumentRefused) as refused:
        check_document(_pdf(change))
    assert refused.value.code == "pdf_active_content"


def test_a_kiosk_holds_a_bounded_number_of_partial_uploads(tmp_path: Path) -> None:
    area = UploadArea(tmp_path)
    area.admit(1, "s" * 32, "a" * 64, limit=2)
    area.admit(1, "s" * 32, "b" * 64, limit=2)
    area.admit(1, "s" * 32, "a" * 64, limit=2)  # going on with one it has is fine
    area.admit(2, "t" * 32, "c" * 64, limit=2)  # another kiosk has its own allowance
    with pytest.raises(web.HTTPTooManyRequests) as refused:
        area.admit(1, "s" * 32, "d" * 64, limit=2)
    assert "unfinished uploads" in refused.value.text


def test_stale_partial_uploads_are_swept(tmp_path: Path) -> None:
    area = UploadArea(tmp_path)
    old, fresh = area.path("s" * 32, "a" * 64), area.path("t" * 32, "b" * 64)
    for path in (old, fresh):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"partial")
    hours_ago = time.time() - 7 * 3600
    os.utime(old, (hours_ago, hours_ago))
    assert area.sweep(6 * 3600) == 1
    assert not old.exists() and not old.parent.exists() and fresh.exists()
