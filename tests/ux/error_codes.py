"""Every error code the server can put in an ``ErrorEvent`` a console may read.

Two sources, both read from the code so a new code cannot slip past the console's table:
the ``code`` of every error class the server raises (storage, media, signaling, console),
and every literal code handed to :func:`signaling.http_error`, ``_problem``, a connection
refusal or an ``ErrorEvent`` in the server's modules. Upload refusals made by
``refuse(view, code)`` are left out: they go to the applicant's kiosk or phone, already in
the applicant's language (:mod:`signaling.document_texts`).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import agent_console
import signaling
from storage.errors import VcounterError

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = ("signaling", "agent_console", "storage", "media")
# the callee, and where its code argument sits
CODE_ARGUMENT = {"http_error": 1, "_problem": 1, "ErrorEvent": None}


def _server_modules() -> None:
    for package in (signaling, agent_console):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith(("__main__", "cli")):
                importlib.import_module(info.name)


def class_codes() -> set[str]:
    """The ``code`` of every error class of the server's packages."""
    _server_modules()
    found: set[str] = set()
    todo = [VcounterError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in SERVER_PACKAGES:
            found.add(cls.code)
    return found


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def literal_codes() -> set[str]:
    """Codes written as string literals where the server builds an error body."""
    found: set[str] = set()
    for package in ("signaling", "agent_console"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or _callee(node) not in CODE_ARGUMENT:
                    continue
                at = CODE_ARGUMENT[_callee(node)]
                values = [k.value for k in node.keywords if k.arg == "code"]
                if at is not None and len(node.args) > at:
                    values.append(node.args[at])
                found |= {
                    v.value
                    for v in values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                }
    return found


def server_error_codes() -> set[str]:
    """Every code a clerk or supervisor console can be sent."""
    return class_codes() | literal_codes()
