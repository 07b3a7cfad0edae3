"""ID readers: the MRZ scan reader and the simulated chip reader with its device faults."""

from __future__ import annotations

import asyncio
import shutil
from datetime import date
from pathlib import Path

import cv2
import pytest
from cv2.typing import MatLike

from media.errors import CheckDigitMismatch
from media.faces import FaceEngine
from media.mrz import MrzFormat, compose_mrz
from terminal_client.errors import CardReadError, CardRemoved, ReaderTimeout
from terminal_client.id_reader import (
    CARD_FOLDER,
    STALLED_FLAG,
    MrzImageReader,
    SimulatedCardReader,
    write_card,
)
from tests.identity.documents import SAMPLE, corrupt_check_digit, specimen

TODAY = date(2026, 12, 1)


def _jpeg(image: MatLike) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


@pytest.fixture
def card(tmp_path: Path, portrait: MatLike) -> Path:
    return write_card(
        tmp_path / "fixtures" / "chan", compose_mrz(MrzFormat.TD1, SAMPLE), _jpeg(portrait)
    )


def _reader(tmp_path: Path, **kw: float) -> SimulatedCardReader:
    slot = tmp_path / "slot"
    slot.mkdir(exist_ok=True)
    return SimulatedCardReader(slot, today=lambda: TODAY, poll_s=0.01, **kw)


def _insert(reader: SimulatedCardReader, card: Path) -> None:
    shutil.copytree(card, reader.slot / CARD_FOLDER)


async def test_card_inserted_later_is_read(tmp_path: Path, card: Path) -> None:
    reader = _reader(tmp_path)
    task = asyncio.create_task(reader.read(timeout_s=5))
    await asyncio.sleep(0.1)
    assert not task.done()  # waiting for a card, as the device does
    _insert(reader, card)
    read = await task
    assert read.source == "chip"
    assert read.document.document_number == SAMPLE.document_number
    assert read.portrait.shape[0] > 100


async def test_no_card_times_out(tmp_path: Path) -> None:
    with pytest.raises(ReaderTimeout, match="no card was inserted within 0 s"):
        await _reader(tmp_path).read(timeout_s=0.2)


async def test_card_removed_mid_read(tmp_path: Path, card: Path) -> None:
    reader = _reader(tmp_path, bytes_per_second=20_000)  # the portrait takes seconds
    _insert(reader, card)
    task = asyncio.create_task(reader.read(timeout_s=10))
    await asyncio.sleep(0.3)
    assert not task.done()
    shutil.rmtree(reader.slot / CARD_FOLDER)
    with pytest.raises(CardRemoved, match="insert it again"):
        await task


async def test_stalled_reader_times_out(tmp_path: Path, card: Path) -> None:
    reader = _reader(tmp_path)
    _insert(reader, card)
    (reader.slot / STALLED_FLAG).touch()
    with pytest.raises(ReaderTimeout, match="stopped answering"):
        await reader.read(timeout_s=0.3)


async def test_altered_card_data_is_a_read_error(tmp_path: Path, card: Path) -> None:
    reader = _reader(tmp_path)
    _insert(reader, card)
    dg1 = reader.slot / CARD_FOLDER / "dg1.mrz"
    dg1.write_text(dg1.read_text().replace("CHAN", "CHEN"))
    with pytest.raises(CardReadError, match="DG1 does not match"):
        await reader.read(timeout_s=2)


async def test_bad_check_digit_on_the_chip_names_the_field(
    tmp_path: Path, portrait: MatLike
) -> None:
    lines = corrupt_check_digit(compose_mrz(MrzFormat.TD1, SAMPLE), MrzFormat.TD1)
    bad = write_card(tmp_path / "bad", lines, _jpeg(portrait))
    reader = _reader(tmp_path)
    _insert(reader, bad)
    with pytest.raises(CheckDigitMismatch) as caught:
        await reader.read(timeout_s=2)
    assert caught.value.field == "document_number"


async def test_mrz_image_reader_reads_scan_and_portrait(
    engine: FaceEngine, portrait: MatLike
) -> None:
    _, scan = specimen(MrzFormat.TD3, portrait, rotate=5.0)

    async def capture() -> MatLike:
        return scan

    read = await MrzImageReader(capture, engine, today=lambda: TODAY).read(timeout_s=5)
    assert read.source == "mrz_scan"
    assert read.document.surname == "CHAN"
    assert len(engine.detect(read.portrait)) == 1


async def test_mrz_image_reader_times_out_without_a_scan(engine: FaceEngine) -> None:
    async def capture() -> MatLike:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    with pytest.raises(ReaderTimeout, match="no document was placed"):
        await MrzImageReader(capture, engine).read(timeout_s=0.1)


async def test_scan_folder_takes_only_a_new_scan(
    tmp_path: Path, engine: FaceEngine, portrait: MatLike
) -> None:
    from terminal_client.id_reader import ScanFolder

    folder = tmp_path / "scans"
    folder.mkdir()
    old_lines, old_scan = specimen(MrzFormat.TD3, portrait)
    cv2.imwrite(str(folder / "previous-applicant.png"), old_scan)
    reader = MrzImageReader(ScanFolder(folder, poll_s=0.02).next_scan, engine, today=lambda: TODAY)
    task = asyncio.create_task(reader.read(timeout_s=10))
    await asyncio.sleep(0.2)
    assert not task.done()  # the old scan is not taken
    fields = SAMPLE.__class__(**{**SAMPLE.__dict__, "document_number": "M7654321"})
    _, scan = specimen(MrzFormat.TD3, portrait, fields=fields)
    cv2.imwrite(str(folder / "page-0001.png"), scan)
    read = await task
    assert read.document.document_number == "M7654321"
    assert old_lines  # the earlier page stays untouched on disk
