"""Liveness: a randomised challenge (blink, turn left, turn right) judged over live frames.

The applicant is asked for the challenge's actions in order. Every frame is matched
against the document portrait as well (:meth:`media.faces.FaceEngine.match_frame`), so the
face that blinks and turns is the face that matched: a frame with two faces fails the
check, a frontal frame that stops matching fails it, and so does losing the face for
longer than :attr:`LivenessRules.lost_s`.

The judge sees only YuNet's five landmarks and the pixels around the eyes:

- *turn*: the nose's offset from the midpoint between the eyes, over the eye distance
  (about 0 facing the camera), counted from the applicant's own resting pose. A flat photo turned or tilted keeps that ratio (an affine
  squeeze keeps ratios along a line), so only a head turning in depth reaches it. Seen by
  the camera (not mirrored), the applicant's own left is the image's right.
- *blink*: eye openness is the vertical-gradient energy of a patch on each eye (iris and
  lid margins are strong horizontal edges; a closed lid is smooth skin with one lash line),
  relative to this applicant's own open-eye baseline. A blink is a drop below
  :attr:`LivenessRules.closed_ratio` of the baseline and back, within ``blink_max_s``.

:class:`LivenessJudge` is pure (frames carry their own timestamps), so tests replay frame
sequences exactly; the kiosk feeds it from a worker thread.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
from cv2.typing import MatLike

from media.errors import LivenessFailed
from media.faces import Face, FrameMatch


class Action(StrEnum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


def random_challenge(count: int = 2, rng: random.Random | None = None) -> list[Action]:
    """``count`` different actions in random order (from the OS's randomness by default)."""
    chooser = rng or secrets.SystemRandom()
    return chooser.sample(list(Action), k=min(count, len(Action)))


def yaw_ratio(face: Face) -> float:
    """Nose offset from the eyes' midpoint over the eye distance; > 0: the applicant's left."""
    right_eye, left_eye, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    span = float(np.linalg.norm(left_eye - right_eye))
    if span < 1.0:
        return 0.0
    return float((nose[0] - (right_eye[0] + left_eye[0]) / 2) / span)


def eye_openness(frame: MatLike, face: Face) -> float | None:
    """Mean vertical-gradient energy of both eye patches (None when an eye is off the frame)."""
    right_eye, left_eye = face.landmarks[0], face.landmarks[1]
    span = float(np.linalg.norm(left_eye - right_eye))
    half_w, half_h = int(0.2 * span), int(0.12 * span)
    if half_w < 4 or half_h < 3:
        return None
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    energies = []
    for eye in (right_eye, left_eye):
        x, y = int(eye[0]), int(eye[1])
        if (
            x - half_w < 0
            or y - half_h < 0
            or x + half_w > gray.shape[1]
            or y + half_h > gray.shape[0]
        ):
            return None
        patch = np.asarray(gray[y - half_h : y + half_h, x - half_w : x + half_w], np.float32)
        # a fixed patch size makes the measure independent of how near the applicant stands
        patch = np.asarray(cv2.resize(patch, (48, 28), interpolation=cv2.INTER_AREA), np.float32)
        gradient = np.abs(cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3))
        energies.append(float(gradient.mean()) / max(float(np.median(patch)), 1.0))
    return float(np.mean(energies))


@dataclass(frozen=True)
class LivenessRules:
    """Thresholds of the judge; the defaults were tuned on the package face set."""

    turn_ratio: float = 0.18
    frontal_ratio: float = 0.12
    closed_ratio: float = 0.6
    blink_max_s: float = 1.0
    baseline_frames: int = 5
    action_timeout_s: float = 10.0
    lost_s: float = 1.5
    # frames in a row that may fail to match before the face counts as changed
    mismatch_frames: int = 3
    # a turned face scores lower against a frontal portrait; this fraction of the threshold
    turned_floor: float = 0.5


@dataclass(frozen=True)
class LivenessOutcome:
    """How the challenge ended; ``reason`` is set when it failed."""

    passed: bool
    challenge: tuple[Action, ...]
    completed: tuple[Action, ...]
    reason: str | None
    frames: int
    matched_frames: int
    min_score: float | None
    max_score: float | None

    def payload(self) -> dict[str, Any]:
        """The outcome as the JSON the session's event carries."""
        return {
            "passed": self.passed,
            "challenge": [a.value for a in self.challenge],
            "completed": [a.value for a in self.completed],
            "reason": self.reason,
            "frames": self.frames,
            "matched_frames": self.matched_frames,
            "min_score": self.min_score,
            "max_score": self.max_score,
        }

    def raise_if_failed(self) -> None:
        """Raise :class:`LivenessFailed` with the sentence for ``reason``."""
        if self.passed:
            return
        reason = self.reason or "timeout"
        raise LivenessFailed(_SENTENCES.get(reason, _SENTENCES["timeout"]), reason)


_SENTENCES = {
    "timeout": "the movement asked for was not seen in time; look at the camera and try again",
    "face_changed": "the face in view stopped matching the document photo; only the applicant may be in view",
    "face_lost": "your face left the camera's view; stay in front of the camera and try again",
    "several_faces": "more than one face was in view; only the applicant may be in front of the camera",
}


@dataclass
class LivenessJudge:
    """Feeds on :class:`FrameMatch` results in time order and decides the challenge."""

    challenge: list[Action]
    threshold: float
    rules: LivenessRules = field(default_factory=LivenessRules)
    completed: list[Action] = field(default_factory=list)
    frames: int = 0
    matched_frames: int = 0
    scores: list[float] = field(default_factory=list)
    reason: str | None = None
    _action_started: float | None = None
    _last_face: float | None = None
    _mismatches: int = 0
    _several: int = 0
    _open: deque[float] = field(default_factory=lambda: deque(maxlen=15))
    _yaws: list[float] = field(default_factory=list)
    _closed_since: float | None = None

    @property
    def current(self) -> Action | None:
        """The action being asked for now, or None when the challenge is over."""
        if self.reason is not None or len(self.completed) == len(self.challenge):
            return None
        return self.challenge[len(self.completed)]

    @property
    def done(self) -> bool:
        return self.current is None

    def observe(self, match: FrameMatch, openness: float | None, t: float) -> Action | None:
        """Judge one frame taken at ``t`` seconds; returns an action it completed, if any."""
        if self.done:
            return None
        self.frames += 1
        if self._action_started is None:
            self._action_started = t
        if self._last_face is None:
            self._last_face = t
        if t - self._action_started > self.rules.action_timeout_s:
            self._fail("timeout")
            return None
        if match.faces >= 2:
            self._several += 1
            # one frame may catch a passer-by's face at the edge; two in a row is a second person
            if self._several >= 2:
                self._fail("several_faces")
            return None
        self._several = 0
        if match.faces == 0 or match.face is None or match.score is None:
            if t - self._last_face > self.rules.lost_s:
                self._fail("face_lost")
            return None
        self._last_face = t
        self.scores.append(match.score)
        raw_yaw = yaw_ratio(match.face)
        # turns count from the applicant's own resting pose, which is rarely dead ahead
        if len(self._yaws) < self.rules.baseline_frames:
            self._yaws.append(raw_yaw)
        yaw = raw_yaw - float(np.median(self._yaws))
        frontal = abs(yaw) < self.rules.frontal_ratio
        floor = self.threshold if frontal else self.threshold * self.rules.turned_floor
        if match.score < floor:
            self._mismatches += 1
            if self._mismatches >= self.rules.mismatch_frames:
                self._fail("face_changed")
                return None
            return None
        self._mismatches = 0
        self.matched_frames += 1
        action = self.current
        if action is Action.TURN_LEFT and yaw > self.rules.turn_ratio:
            return self._complete(action, t)
        if action is Action.TURN_RIGHT and yaw < -self.rules.turn_ratio:
            return self._complete(action, t)
        if action is Action.BLINK and abs(yaw) < self.rules.turn_ratio and openness is not None:
            return self._blink(openness, t)
        return None

    def _blink(self, openness: float, t: float) -> Action | None:
        if len(self._open) < self.rules.baseline_frames:
            self._open.append(openness)
            return None
        baseline = float(np.median(self._open))
        if openness < self.rules.closed_ratio * baseline:
            if self._closed_since is None:
                self._closed_since = t
            return None
        if self._closed_since is not None:
            closed_for = t - self._closed_since
            self._closed_since = None
            if closed_for <= self.rules.blink_max_s:
                return self._complete(Action.BLINK, t)
        self._open.append(openness)
        return None

    def _complete(self, action: Action, t: float) -> Action:
        self.completed.append(action)
        self._action_started = t
        self._closed_since = None
        return action

    def _fail(self, reason: str) -> None:
        self.reason = reason
        return None

    def outcome(self) -> LivenessOutcome:
        """The result so far; an unfinished challenge is a failure by timeout."""
        passed = self.reason is None and len(self.completed) == len(self.challenge)
        reason = None if passed else (self.reason or "timeout")
        return LivenessOutcome(
            passed=passed,
            challenge=tuple(self.challenge),
            completed=tuple(self.completed),
            reason=reason,
            frames=self.frames,
            matched_frames=self.matched_frames,
            min_score=round(min(self.scores), 4) if self.scores else None,
            max_score=round(max(self.scores), 4) if self.scores else None,
        )
