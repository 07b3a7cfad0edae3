"""Errors of the paperwork steps (form, signature, seal, decision, printing, verification).

::

    SignalingError                 (signaling.errors)
    └── PaperworkError
        ├── NoStrokes              a signature with nothing drawn
        ├── FormMismatch           signed a form other than the one shown
        ├── NotReady               a step asked for before the one it needs
        ├── DecisionRefused        not this clerk's decision to make
        ├── BadAcceptanceNumber    malformed, or its check character is wrong
        ├── UnknownAcceptanceNumber
        ├── IdentityMismatch       reprint with another person's document
        │   └── FaceNotMatched     reprint whose live face did not match the document
        └── KeyMaterialError       seal key or certificate missing or unusable
"""

from __future__ import annotations

from signaling.errors import SignalingError


class PaperworkError(SignalingError):
    code = "paperwork_error"


class NoStrokes(PaperworkError):
    code = "no_strokes"


class FormMismatch(PaperworkError):
    code = "form_mismatch"


class NotReady(PaperworkError):
    code = "not_ready"


class DecisionRefused(PaperworkError):
    code = "decision_refused"


class BadAcceptanceNumber(PaperworkError):
    code = "bad_acceptance_number"


class UnknownAcceptanceNumber(PaperworkError):
    code = "unknown_acceptance_number"


class IdentityMismatch(PaperworkError):
    code = "identity_mismatch"


class FaceNotMatched(IdentityMismatch):
    code = "face_mismatch"


class KeyMaterialError(PaperworkError):
    code = "key_material_error"
