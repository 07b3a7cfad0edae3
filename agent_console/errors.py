"""Errors of the clerk console's server side; the whole tree is drawn in :mod:`storage.errors`.

::

    VcounterError                      (storage.errors)
    └── ConsoleError                   (agent_console.errors)
        └── ConsoleAssetsMissing       the npm packages the console needs are not installed
"""

from __future__ import annotations

from storage.errors import VcounterError


class ConsoleError(VcounterError):
    code = "console_error"


class ConsoleAssetsMissing(ConsoleError):
    """The console's browser packages (``node_modules``) are not installed."""

    code = "console_assets_missing"
