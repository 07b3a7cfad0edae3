"""Same/different-person pairs of the package face set and their cosine scores (tests, bench)."""

from __future__ import annotations

import itertools

from media.faces import Embedding, FaceEngine, cosine
from tests.identity.faceset import Photo


def score_pairs(engine: FaceEngine, photos: list[Photo]) -> tuple[list[float], list[float]]:
    """Scores of every same-person pair and every pair known to be two people."""
    labelled: list[tuple[str, Embedding]] = []
    groups: list[list[Embedding]] = []
    for photo in photos:
        faces = engine.detect(photo.image, max_width=1280)
        if photo.person is not None:
            labelled.append((photo.person, engine.embed(photo.image, faces[0])))
        else:
            groups.append([engine.embed(photo.image, f) for f in faces])
    same, different = [], []
    for (pa, a), (pb, b) in itertools.combinations(labelled, 2):
        (same if pa == pb else different).append(round(cosine(a, b), 3))
    for group in groups:
        # people side by side in one photo are different people
        different += [round(cosine(a, b), 3) for a, b in itertools.combinations(group, 2)]
        # and none of them is one of the labelled people
        different += [round(cosine(a, b), 3) for a in group for _, b in labelled]
    return sorted(same), sorted(different)
