"""Errors of the terminal client and its kiosk UI; the whole tree is in :mod:`storage.errors`.

This package's branch::

    TerminalError                 a call or the server connection went wrong
    ├── CallFailed                the call did not reach the expected state in time
    ├── ServiceRefused            the server refused ``request_service`` (``reason_code``)
    ├── CommandRefused            a kiosk UI command that does not fit the current screen
    │   └── InvalidCommand        a UI message that is not a valid command at all
    ├── ScreenTransitionError     the kiosk tried a screen change its table does not allow
    ├── CatalogueUnavailable      the service catalogue cannot be fetched from the server
    ├── TranslationMissing        a UI text key missing from a language catalogue
    ├── SpeechError               spoken prompts (care mode) cannot be made
    │   └── SpeechUnavailable     espeak-ng is not installed
    ├── ReaderError               the ID document reader failed (``terminal_client.id_reader``)
    │   ├── ReaderTimeout         no document was presented, or the device stopped answering
    │   ├── CardRemoved           the card left the reader before it was read
    │   └── CardReadError         the card answered, but its data is damaged or does not verify
    ├── IdentityUploadFailed      the server did not take the identity result
    └── DocumentError             a document could not be captured, imported or sent
        ├── DocumentUploadRefused the server refused the file (``reason_code``; message in
        │                         the applicant's language)
        ├── DocumentUploadFailed  the server could not be reached after retries
        └── DeviceFault           the scanner jammed, timed out or is missing (``reason_code``)
"""

from __future__ import annotations

from storage.errors import VcounterError


class TerminalError(VcounterError):
    code = "terminal_error"


class CallFailed(TerminalError):
    code = "call_failed"


class ServiceRefused(TerminalError):
    """The server refused a request for a service; ``reason_code`` is its ``error`` code."""

    code = "service_refused"

    def __init__(self, message: str, reason_code: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class CommandRefused(TerminalError):
    """A UI command that is valid but not now (e.g. ``hangup`` on the language screen)."""

    code = "command_refused"


class InvalidCommand(CommandRefused):
    """A message from the kiosk page that does not parse as any :data:`UiCommand`."""

    code = "invalid_command"


class ScreenTransitionError(TerminalError):
    code = "illegal_screen"


class CatalogueUnavailable(TerminalError):
    code = "catalogue_unavailable"


class TranslationMissing(TerminalError):
    code = "translation_missing"


class SpeechError(TerminalError):
    code = "speech_error"


class SpeechUnavailable(SpeechError):
    code = "speech_unavailable"


class ReaderError(TerminalError):
    code = "reader_error"


class ReaderTimeout(ReaderError):
    code = "reader_timeout"


class CardRemoved(ReaderError):
    code = "card_removed"


class CardReadError(ReaderError):
    code = "card_read_error"


class IdentityUploadFailed(TerminalError):
    code = "identity_upload_failed"


class DocumentError(TerminalError):
    code = "document_error"


class DocumentUploadRefused(DocumentError):
    """The server refused a document; ``message`` is its sentence for the applicant."""

    code = "document_refused"

    def __init__(self, message: str, reason_code: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class DocumentUploadFailed(DocumentError):
    code = "document_upload_failed"


class DeviceFault(DocumentError):
    """A document device failed as real ones do: ``reason_code`` is jam, timeout or missing."""

    code = "device_fault"

    def __init__(self, message: str, reason_code: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


# ---------------------------------------------------------------- printing (paperwork)
# TerminalError -> PrinterError -> PrinterOutOfPaper, PrinterOffline; PaperworkRefused


class PrinterError(TerminalError):
    """The printer refused or failed a job; the job stays queued and is retried."""

    code = "printer_error"


class PrinterOutOfPaper(PrinterError):
    code = "printer_out_of_paper"


class PrinterOffline(PrinterError):
    code = "printer_offline"


class PaperworkRefused(TerminalError):
    """The server refused a signature, reprint or document request; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
