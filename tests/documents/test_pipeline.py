"""The page pipeline on photographs of a rendered page: corners, upright output, size, PDF."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pikepdf
import pytest

from media.errors import PageImageError
from media.page_pdf import assemble_pdf
from media.page_sample import a4_pixels, photograph, render_page
from media.pages import Corners, decode_image, detect_page, encode_jpeg, find_skew, process_page


def corner_error(found: Corners, true: Corners) -> float:
    """Largest corner distance in pixels, over the four ways a page can be numbered round."""
    return min(float(np.abs(np.roll(found, k, axis=0) - true).max()) for k in range(4))


def lines_horizontal(image: np.ndarray) -> bool:
    """Text lines run across the page: the row profile varies far more than the column one."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ink = (gray < 128).astype(np.float64)
    return float(np.var(np.diff(ink.sum(axis=1)))) > 1.5 * float(np.var(np.diff(ink.sum(axis=0))))


PAGE = render_page(100, seed=3)


@pytest.mark.parametrize(
    ("rotation", "tilt", "shadow", "seed"),
    [
        (0, 0.02, 0.0, 1),
        (8, 0.06, 0.5, 2),
        (-15, 0.08, 0.7, 3),
        (27, 0.05, 0.4, 4),
        (-30, 0.1, 0.6, 5),
    ],
)
def test_corners_found_within_tolerance(
    rotation: float, tilt: float, shadow: float, seed: int
) -> None:
    # fill 0.6: even turned by 30° the whole sheet stays in the frame, as on a document camera
    photo = photograph(PAGE, rotation_deg=rotation, tilt=tilt, shadow=shadow, fill=0.6, seed=seed)
    found = detect_page(photo.image)
    assert found is not None
    # 1.5 % of the photo's long side (24 px of 1600)
    assert corner_error(found, photo.corners) < 24


@pytest.mark.parametrize(("rotation", "seed"), [(0, 1), (12, 2), (-22, 3), (90, 4), (-84, 5)])
def test_output_is_upright_flat_and_portrait(rotation: float, seed: int) -> None:
    photo = photograph(PAGE, rotation_deg=rotation, tilt=0.04, shadow=0.5, fill=0.6, seed=seed)
    result = process_page(photo.image)
    page = decode_image(result.jpeg)
    assert page.shape[0] > page.shape[1], "an A4 page comes out portrait"
    aspect = page.shape[0] / page.shape[1]
    assert abs(aspect - 297 / 210) < 0.12
    assert lines_horizontal(page)
    assert abs(find_skew(page)) <= 0.6, "no skew left after straightening"
    if abs(rotation) < 45:
        # not upside down: the page's coloured heading band is in its top tenth
        band = page[: page.shape[0] // 10]
        blue = (band[..., 0].astype(int) - band[..., 2].astype(int)) > 60
        assert blue.mean() > 0.2


def test_shadow_is_evened_out() -> None:
    photo = photograph(PAGE, rotation_deg=3, shadow=0.9, noise=2, seed=7)
    page = decode_image(process_page(photo.image).jpeg)
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    # paper brightness (a high percentile ignores the ink) in each quarter of the page
    quarters = [
        gray[: h // 2, : w // 2],
        gray[: h // 2, w // 2 :],
        gray[h // 2 :, : w // 2],
        gray[h // 2 :, w // 2 :],
    ]
    levels = [float(np.percentile(q, 90)) for q in quarters]
    assert max(levels) - min(levels) < 25
    raw = cv2.cvtColor(photo.image, cv2.COLOR_BGR2GRAY)
    assert min(levels) > float(np.percentile(raw, 99)) * 0.9


def test_text_still_readable_after_processing() -> None:
    """The page's ink survives: the processed page matches the original render closely."""
    photo = photograph(PAGE, rotation_deg=-6, tilt=0.04, shadow=0.4, seed=9)
    page = decode_image(process_page(photo.image).jpeg)
    resized = cv2.resize(PAGE, (page.shape[1], page.shape[0]), interpolation=cv2.INTER_AREA)
    a = (cv2.cvtColor(page, cv2.COLOR_BGR2GRAY) < 140).astype(np.float32)
    b = (cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY) < 140).astype(np.float32)
    blur_a, blur_b = cv2.GaussianBlur(a, (0, 0), 2), cv2.GaussianBlur(b, (0, 0), 2)
    correlation = float(np.corrcoef(blur_a.ravel(), blur_b.ravel())[0, 1])
    assert correlation > 0.6


def test_full_resolution_a4_scan_keeps_300_dpi_and_fits_the_size_bound() -> None:
    scan = render_page(300, seed=11)
    assert scan.shape[:2] == (3508, 2480) == a4_pixels(300)[::-1]
    result = process_page(scan, max_bytes=1_200_000, find_edges=False)
    assert result.corners is None
    assert len(result.jpeg) <= 1_200_000
    assert max(result.width, result.height) <= 3508 and result.height >= 2800


def test_size_bound_lowers_quality_then_resolution() -> None:
    noisy = np.random.default_rng(0).integers(0, 256, (1200, 900, 3), dtype=np.uint8)
    data, quality, encoded = encode_jpeg(noisy, max_bytes=150_000)
    # noise does not compress: quality alone cannot reach the bound, so the page shrank
    assert len(data) <= 150_000 and encoded.shape[0] < 1200 and quality >= 60


def test_not_a_colour_image_is_refused() -> None:
    with pytest.raises(PageImageError, match="colour"):
        process_page(np.zeros((100, 100), np.uint8))
    with pytest.raises(PageImageError, match="not an image"):
        decode_image(b"hello")


def test_pages_assemble_into_one_pdf_with_the_jpegs_unchanged() -> None:
    jpegs = [process_page(photograph(PAGE, seed=s).image).jpeg for s in (1, 2, 3)]
    pdf = assemble_pdf(jpegs, title="passport")
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert len(doc.pages) == 3
        embedded = [next(iter(p.get_images().values())).read_raw_bytes() for p in doc.pages]
    assert embedded == jpegs
    with pytest.raises(PageImageError, match="at least one page"):
        assemble_pdf([])
