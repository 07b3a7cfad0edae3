"""Structured logging: every line carries ``session`` and ``role`` (``-`` when none)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class _ContextDefaults(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "session"):
            record.session = "-"
        if not hasattr(record, "role"):
            record.role = "-"
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s session=%(session)s role=%(role)s %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Install the structured handler on the root logger; call from entry points only."""
    handler = logging.StreamHandler()
    handler.addFilter(_ContextDefaults())
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiortc/aioice log every RTP/ICE detail at INFO; keep our own lines readable.
    for noisy in ("aioice", "aiortc", "engineio", "socketio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class ContextLog(logging.LoggerAdapter[logging.Logger]):
    """A logger bound to one session and role."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def context_log(logger: logging.Logger, session: str | None, role: str) -> ContextLog:
    """``logger`` with ``session`` and ``role`` on every line."""
    return ContextLog(logger, {"session": session or "-", "role": role})
