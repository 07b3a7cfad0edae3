"""A floor under the bitrate the kiosk asks the clerk's browser for (REMB).

aiortc's receiver estimates the bitrate it can take from packet delays (its port of the
browsers' old delay-based estimator) and sends it to the sender as REMB. On a long, lossy
path (300 ms round trip, 5 % loss) retransmissions and jitter read as congestion: the
estimate slid to ~50 kbit/s, and Chromium sent the clerk's camera at 320x240 and 9-11 fps
("bandwidth" was its quality limitation). Here the estimate never goes below
:data:`FLOOR_BPS`; the browser's own loss-based control still lowers its rate when loss passes
10 %, so a truly narrow link is still backed off from.

Installed on aiortc's ``RemoteBitrateEstimator`` (:func:`install`), once per process, by the
modules that make peers.
"""

from __future__ import annotations

from typing import Any

from aiortc import rate

FLOOR_BPS = 400_000

_original_add = rate.RemoteBitrateEstimator.add
_installed = False


def _add(self: Any, *args: Any, **kwargs: Any) -> tuple[int, list[int]] | None:
    estimate = _original_add(self, *args, **kwargs)
    if estimate is None:
        return None
    bitrate, ssrcs = estimate
    return max(bitrate, FLOOR_BPS), ssrcs


def install() -> None:
    """Keep every REMB this process's receivers send at or above :data:`FLOOR_BPS`."""
    global _installed
    if not _installed:
        rate.RemoteBitrateEstimator.add = _add  # type: ignore[method-assign]
        _installed = True
