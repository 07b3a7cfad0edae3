"""Errors of the terminal client; the tree is drawn in :mod:`storage.errors`."""

from __future__ import annotations

from storage.errors import VcounterError


class TerminalError(VcounterError):
    code = "terminal_error"


class CallFailed(TerminalError):
    code = "call_failed"
