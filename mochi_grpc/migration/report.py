"""What an import or export run did, one result per file."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    IMPORTED = "imported"
    EXPORTED = "exported"
    SKIPPED = "skipped"
    # Import: the file breaks a rule of the format. Export: it could not be written.
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True)
class FileResult:
    file_name: str
    outcome: Outcome
    detail: str

    def line(self) -> str:
        return f"{self.file_name}: {self.outcome}: {self.detail}"


def total_line(results: Iterable[FileResult], outcomes: Iterable[Outcome]) -> str:
    """'3 files: 1 imported, 1 skipped, 1 rejected' (every outcome named, even at 0)."""
    results = list(results)
    counts = ", ".join(
        f"{sum(r.outcome is outcome for r in results)} {outcome}" for outcome in outcomes
    )
    noun = "file" if len(results) == 1 else "files"
    return f"{len(results)} {noun}: {counts}"


def messages_detail(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"
