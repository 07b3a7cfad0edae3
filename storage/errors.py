"""Errors raised by the store, and the project-wide base class.

Every package's ``errors.py`` derives from :class:`VcounterError`::

    VcounterError                      (storage.errors)  base: has ``code`` and a message
    ├── StorageError                   (storage.errors)
    │   ├── NotFound
    │   ├── DuplicateEntry
    │   ├── ChainBroken
    │   ├── ChainMoved                 a conditional append found newer events (a race lost)
    │   ├── BlobCorrupt
    │   ├── InvalidValue
    │   │   └── InvalidPhone           (storage.callbacks) a number a clerk cannot call back
    │   ├── CallbackConflict           (storage.callbacks) the task was taken or closed first
    │   ├── ClerkInCall                (storage.callbacks) no callback while in a call
    │   ├── BadDatabaseUrl
    │   └── WrapUpRefused              no wrap-up to file or extend, or past its longest
    ├── SignalingError                 (signaling.errors)
    │   ├── AuthError
    │   │   └── SignInExpired
    │   ├── InvalidMessage
    │   ├── NotYourSession
    │   ├── IllegalTransition
    │   ├── UnknownService
    │   ├── RateLimited
    │   └── ConfigError
    ├── MediaError                     (media.errors)
    │   ├── DeviceUnavailable
    │   ├── PageImageError             a capture cannot be read or processed as a page
    │   └── DocumentRefused            an upload refused by its content (``code`` says why)
    └── TerminalError                  (terminal_client.errors)
        ├── CallFailed
        ├── ServiceRefused
        ├── CommandRefused
        │   └── InvalidCommand
        ├── ScreenTransitionError
        ├── CatalogueUnavailable
        ├── TranslationMissing
        ├── SpeechError
        │   └── SpeechUnavailable
        └── DocumentError
            ├── DocumentUploadRefused
            ├── DocumentUploadFailed
            └── DeviceFault

Messages say what is wrong and what to do; they reach the other side as a typed ``error``
event carrying ``code`` and ``message``.
"""

from __future__ import annotations


class VcounterError(Exception):
    """Base of every error vcounter raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StorageError(VcounterError):
    code = "storage_error"


class NotFound(StorageError):
    code = "not_found"


class DuplicateEntry(StorageError):
    code = "duplicate"


class ChainBroken(StorageError):
    code = "chain_broken"


class ChainMoved(StorageError):
    """Someone appended to the chain since the caller read it: its decision was made on
    old facts, so it is refused (the other one won)."""

    code = "conflict"


class BlobCorrupt(StorageError):
    """A stored blob's bytes no longer hash to its name."""

    code = "blob_corrupt"


class InvalidValue(StorageError):
    """A value the store refuses to save (bad username, short password, unknown field)."""

    code = "invalid_value"


class BadDatabaseUrl(StorageError):
    """The database URL cannot be parsed or names a database vcounter does not support."""

    code = "bad_database_url"


class WrapUpRefused(StorageError):
    """A wrap-up that cannot be filed or extended: none for that call, or no more time."""

    code = "wrap_up_refused"
