"""What every benchmark's command line shares: ``--smoke`` and the JSON last line.

A benchmark module ``bench/<name>.py`` defines ``KEYS``, the keys of its JSON line (as its
docstring and the README document them), and ends like this::

    if __name__ == "__main__":
        parser = bench_parser(__doc__)
        parser.add_argument("-n", type=int, default=20, help="calls (default 20)")
        args = parse(parser, smoke={"n": 1})
        out = asyncio.run(main(args.n))
        print(...)  # the human summary
        report(out, KEYS)

``--smoke`` replaces the arguments named in ``smoke`` with tiny values: a run of seconds that
shows the benchmark still works end to end, whose figures mean nothing (its JSON line says
``"smoke": true``). ``tests/bench/test_bench_smoke.py`` runs every module in ``bench/`` that
way, so a new benchmark is covered as soon as it has ``KEYS`` and uses :func:`parse`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Collection, Mapping
from typing import Any


class BenchOutputError(RuntimeError):
    """A benchmark's result lacks a documented key: the code and ``KEYS`` disagree."""


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the module's docstring, with ``--smoke``."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().split("\n\n")[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (seconds) to check the benchmark works; its figures mean nothing",
    )
    return parser


def parse(parser: argparse.ArgumentParser, smoke: Mapping[str, Any]) -> argparse.Namespace:
    """The parsed arguments; with ``--smoke``, those named in ``smoke`` take its values."""
    args = parser.parse_args()
    if args.smoke:
        for name, value in smoke.items():
            if not hasattr(args, name):
                raise BenchOutputError(f"--smoke sets {name!r}, which is not an argument")
            setattr(args, name, value)
    return args


def report(out: Mapping[str, Any], keys: Collection[str], smoke: bool = False) -> None:
    """Print ``out`` as the last stdout line (JSON), after checking it has every key in ``keys``."""
    missing = [key for key in keys if key not in out]
    if missing:
        raise BenchOutputError(
            f"the result lacks {', '.join(missing)}: compute them or update KEYS and the README"
        )
    print(
        json.dumps({**out, "smoke": True} if smoke else dict(out), ensure_ascii=False), flush=True
    )
