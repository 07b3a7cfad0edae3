"""One finding of a verification, as a sentence that names what and where."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify."""

    where: str  # "event 7", "applicant segment 2 (event 12)", "checkpoint 3 of ..."
    what: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: expected {self.expected}, found {self.found}"
