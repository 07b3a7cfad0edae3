"""Errors of the paperwork steps (form, signature, seal, decision, printing, verification).

::

    SignalingError                 (signaling.errors)
    └── PaperworkError
        ├── NoStrokes              a signature with nothing drawn
        ├── FormMismatch           signed a form other than the one shown
        ├── NotReady               a step asked for before the one it needs
        │   └── MaterialOutstanding  approve while a material to follow has not come
        │       └── MaterialLapsed   ... and its due date has passed
        ├── DecisionRefused        not this clerk's decision to make
        ├── BadAcceptanceNumber    malformed, or its check character is wrong
        ├── UnknownAcceptanceNumber
        ├── IdentityMismatch       reprint with another person's document
        │   └── FaceNotMatched     reprint whose live face did not match the document
        ├── KeyMaterialError       seal key or certificate missing or unusable
        ├── MaterialEssential      an essential material asked to follow
        └── NothingToFollow        no material of this application waits to be supplied
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


class MaterialOutstanding(NotReady):
    code = "material_outstanding"


class MaterialLapsed(MaterialOutstanding):
    code = "material_lapsed"


class MaterialEssential(PaperworkError):
    code = "material_essential"


class NothingToFollow(PaperworkError):
    code = "nothing_to_follow"
