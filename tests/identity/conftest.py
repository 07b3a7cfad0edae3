"""Identity fixtures: the face engine (loaded once) and the package face set."""

from __future__ import annotations

import pytest
from cv2.typing import MatLike

from media.face_samples import Photo, load_photos
from media.faces import FaceEngine

# the console panel test drives Chromium with the browser tests' fixtures
from tests.browser.conftest import browser, chromium_path, page  # noqa: F401


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.fixture(scope="session")
def photos() -> list[Photo]:
    return load_photos()


@pytest.fixture(scope="session")
def portrait(photos: list[Photo]) -> MatLike:
    """A head-and-shoulders photo to print on specimen documents."""
    return next(p.image for p in photos if p.name == "obama.jpg")
