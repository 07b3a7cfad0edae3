"""Errors of media sources and sinks; the tree is drawn in :mod:`storage.errors`."""

from __future__ import annotations

from typing import Any

from storage.errors import VcounterError


class MediaError(VcounterError):
    code = "media_error"


class DeviceUnavailable(MediaError):
    code = "device_unavailable"


class PageImageError(MediaError):
    """A capture cannot be read or processed as a page image."""

    code = "page_image_error"


class DocumentRefused(MediaError):
    """An uploaded file is refused by its content; ``code`` names why (see doc_checks.py)."""

    code = "document_refused"

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params
