"""Errors of media sources and sinks; the tree is drawn in :mod:`storage.errors`."""

from __future__ import annotations

from storage.errors import VcounterError


class MediaError(VcounterError):
    code = "media_error"


class DeviceUnavailable(MediaError):
    code = "device_unavailable"
