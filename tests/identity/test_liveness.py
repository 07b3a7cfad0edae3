"""Liveness: a blinking sequence passes, a static photo fails, a swapped face fails."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from cv2.typing import MatLike

from media.errors import LivenessFailed
from media.face_camera import close_eyes, squeeze
from media.face_samples import Photo
from media.faces import Embedding, FaceEngine, FrameMatch
from media.liveness import (
    Action,
    LivenessJudge,
    LivenessRules,
    eye_openness,
    random_challenge,
    yaw_ratio,
)

FPS = 15.0


def _by_name(photos: list[Photo]) -> dict[str, MatLike]:
    return {p.name: p.image for p in photos}


@pytest.fixture(scope="module")
def reference(engine: FaceEngine, photos: list[Photo]) -> Embedding:
    """The 'document portrait': obama3.jpg; the live applicant is obama.jpg (facing ahead)."""
    image = _by_name(photos)["obama3.jpg"]
    return engine.embed(image, engine.detect(image)[0])


def _run(
    engine: FaceEngine, judge: LivenessJudge, frames: list[MatLike], reference: Embedding
) -> None:
    for i, frame in enumerate(frames):
        match = engine.match_frame(frame, reference)
        openness = eye_openness(frame, match.face) if match.face else None
        judge.observe(match, openness, i / FPS)
        if judge.done:
            break


def test_a_blink_passes(engine: FaceEngine, photos: list[Photo], reference: Embedding) -> None:
    live = _by_name(photos)["obama.jpg"]
    face = engine.detect(live)[0]
    frames = [live] * 8 + [close_eyes(live, face, a) for a in (0.6, 1.0, 1.0, 0.6)] + [live] * 4
    judge = LivenessJudge([Action.BLINK], engine.threshold)
    _run(engine, judge, frames, reference)
    outcome = judge.outcome()
    assert outcome.passed, outcome
    assert outcome.completed == (Action.BLINK,)
    assert outcome.min_score is not None and outcome.min_score >= engine.threshold
    outcome.raise_if_failed()


def test_a_static_photo_fails(
    engine: FaceEngine, photos: list[Photo], reference: Embedding
) -> None:
    live = _by_name(photos)["obama.jpg"]
    frames = [live] * int(FPS * 11)  # longer than the action timeout, never moving
    judge = LivenessJudge([Action.BLINK], engine.threshold)
    _run(engine, judge, frames, reference)
    outcome = judge.outcome()
    assert not outcome.passed and outcome.reason == "timeout"
    with pytest.raises(LivenessFailed, match="not seen in time") as caught:
        outcome.raise_if_failed()
    assert caught.value.reason == "timeout"


def test_a_photo_turned_like_a_card_does_not_count_as_a_head_turn(
    engine: FaceEngine, photos: list[Photo], reference: Embedding
) -> None:
    live = _by_name(photos)["obama.jpg"]
    frames = [squeeze(live, f) for f in np.linspace(1.0, 0.45, 40)]
    judge = LivenessJudge([Action.TURN_LEFT], engine.threshold)
    _run(engine, judge, frames, reference)
    assert judge.completed == []
    resting = yaw_ratio(engine.detect(frames[0])[0])
    for frame in frames[::8]:
        face = engine.detect(frame)[0]
        assert abs(yaw_ratio(face) - resting) < LivenessRules().turn_ratio


def test_a_face_swapped_mid_challenge_fails(
    engine: FaceEngine, photos: list[Photo], reference: Embedding
) -> None:
    images = _by_name(photos)
    live, other = images["obama.jpg"], images["biden.jpg"]
    other_face = engine.detect(other)[0]
    # the right person starts; someone else does the blink
    frames = [live] * 8 + [other] * 3 + [close_eyes(other, other_face)] * 2 + [other] * 3
    judge = LivenessJudge([Action.BLINK], engine.threshold)
    _run(engine, judge, frames, reference)
    assert judge.outcome().reason == "face_changed"
    assert judge.completed == []


def test_two_faces_fail(engine: FaceEngine, photos: list[Photo], reference: Embedding) -> None:
    live = _by_name(photos)["obama.jpg"]
    frames = [live] * 6 + [np.hstack([live, live])] * 3
    judge = LivenessJudge([Action.BLINK], engine.threshold)
    _run(engine, judge, frames, reference)
    assert judge.outcome().reason == "several_faces"


def test_turns_are_judged_from_landmarks(engine: FaceEngine, photos: list[Photo]) -> None:
    live = _by_name(photos)["obama.jpg"]
    face = engine.detect(live)[0]
    span = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))

    def turned(by: float) -> FrameMatch:
        marks = face.landmarks.copy()
        marks[2, 0] += by * span  # the nose moves across as the head turns
        return FrameMatch(1, 0.5, True, replace(face, landmarks=marks))

    judge = LivenessJudge([Action.TURN_LEFT, Action.TURN_RIGHT], threshold=0.4)
    t = 0.0
    for shift in [0.0] * 5 + [0.1, 0.2, 0.25, 0.1, 0.0, -0.1, -0.22, -0.3]:
        judge.observe(turned(shift), None, t)
        t += 0.1
    assert judge.outcome().passed
    assert judge.completed == [Action.TURN_LEFT, Action.TURN_RIGHT]


def test_a_turned_face_must_still_match_loosely() -> None:
    judge = LivenessJudge([Action.TURN_LEFT], threshold=0.4)
    marks = np.array([[100, 100], [160, 100], [150, 130], [110, 160], [150, 160]], np.float32)
    from media.faces import Face

    face = Face((80, 60, 100, 130), marks, 0.9, np.zeros(15, np.float32))
    for i in range(3):
        judge.observe(FrameMatch(1, 0.1, False, face), None, i * 0.1)
    assert judge.outcome().reason == "face_changed"


def test_losing_the_face_fails_after_a_grace_period() -> None:
    judge = LivenessJudge([Action.BLINK], threshold=0.4)
    for i in range(30):
        judge.observe(FrameMatch(0, None, False, None), None, i * 0.1)
    assert judge.outcome().reason == "face_lost"


def test_challenges_are_random_and_distinct() -> None:
    seen = {tuple(random_challenge(2, random.Random(seed))) for seed in range(30)}
    assert len(seen) >= 4
    assert all(len(set(c)) == 2 for c in seen)
    assert len(random_challenge(2)) == 2


async def test_a_silent_camera_ends_the_challenge(
    engine: FaceEngine, photos: list[Photo], reference: Embedding, monkeypatch: pytest.MonkeyPatch
) -> None:
    from media.errors import DeviceUnavailable
    from terminal_client import identity
    from terminal_client.identity import LatestFrame, watch_face
    from terminal_client.worker import CpuWorker

    monkeypatch.setattr(identity, "CAMERA_SILENT_S", 0.3)
    with CpuWorker() as worker, pytest.raises(DeviceUnavailable, match="no picture"):
        await watch_face(engine, LatestFrame(), reference, worker, [Action.BLINK])
