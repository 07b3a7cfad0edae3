"""Errors of media sources and sinks; the tree is drawn in :mod:`storage.errors`."""

from __future__ import annotations

from typing import Any

from storage.errors import VcounterError


class MediaError(VcounterError):
    code = "media_error"


class DeviceUnavailable(MediaError):
    code = "device_unavailable"


# Identity: reading the ID document and matching the applicant's face (``media.mrz``,
# ``media.mrz_scan``, ``media.faces``, ``media.liveness``). Each ``code`` is also the key of
# the sentence the kiosk shows the applicant (``identity.error.<code>`` in the i18n files):
#
#   MediaError
#   └── IdentityError
#       ├── DocumentUnreadable      no machine-readable zone found, or OCR could not read it
#       ├── MrzInvalid              MRZ text of the wrong shape (line lengths, characters)
#       ├── CheckDigitMismatch      a check digit does not match its field (``field``)
#       ├── DocumentExpired         the expiry date has passed
#       ├── ModelUnavailable        a face model file is missing or fails its SHA-256 check
#       ├── FaceNotFound            no face where one is needed (``where``: portrait / live)
#       ├── SeveralFaces            more than one face where exactly one is needed
#       ├── FaceMismatch            the live face does not match the document portrait
#       └── LivenessFailed          the challenge was not performed, or the face changed


class IdentityError(MediaError):
    code = "identity_error"


class DocumentUnreadable(IdentityError):
    code = "document_unreadable"


class MrzInvalid(IdentityError):
    code = "mrz_invalid"


class CheckDigitMismatch(IdentityError):
    """``field`` names the MRZ field whose check digit is wrong (``document_number``, ...)."""

    code = "check_digit"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class DocumentExpired(IdentityError):
    code = "document_expired"


class ModelUnavailable(IdentityError):
    code = "model_unavailable"


class FaceNotFound(IdentityError):
    code = "no_face"


class SeveralFaces(IdentityError):
    code = "several_faces"


class FaceMismatch(IdentityError):
    code = "face_mismatch"


class LivenessFailed(IdentityError):
    """``reason`` is ``timeout``, ``face_changed``, ``face_lost`` or ``no_movement``."""

    code = "liveness_failed"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


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
