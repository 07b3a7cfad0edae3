"""Same/different-person pairs of the package face set and their cosine scores (tests, bench)."""

from __future__ import annotations

import itertools

from media.face_samples import Photo
from media.faces import Embedding, FaceEngine, cosine
from media.mrz import MrzFormat
from tests.identity.documents import passport_photo, specimen


def score_pairs(
    engine: FaceEngine, photos: list[Photo], documents: bool = True
) -> tuple[list[float], list[float]]:
    """Scores of every same-person pair and every pair known to be two people.

    With ``documents``, each labelled photo is also printed on a specimen TD3 page and its
    portrait cut back out of the 300-dpi scan (what the kiosk compares against), and that
    portrait is scored against every other photo of the set.
    """
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
    if documents:
        others = [e for group in groups for e in group]
        for i, photo in enumerate(p for p in photos if p.person is not None):
            photo_face = engine.detect(photo.image, max_width=1280)[0]
            _, scan = specimen(MrzFormat.TD3, passport_photo(photo.image, photo_face.box))
            _, printed = engine.portrait(scan)
            for j, (person, live) in enumerate(labelled):
                if j != i:
                    (same if person == photo.person else different).append(
                        round(cosine(printed, live), 3)
                    )
            different += [round(cosine(printed, o), 3) for o in others]
    return sorted(same), sorted(different)
