"""Errors a user can act on. The CLI turns `BadInput` into one line and exit status 2."""

from __future__ import annotations

from pathlib import Path


class BadInput(Exception):
    """Input the user must fix: names the file and, where known, the record or line."""

    def __init__(
        self, message: str, path: str | Path | None = None, record: str | int | None = None
    ):
        self.path = str(path) if path is not None else None
        self.record = record
        where = ""
        if self.path is not None:
            where = self.path
            if record is not None:
                where += f", {record if isinstance(record, str) else f'line {record}'}"
            where += ": "
        super().__init__(where + message)


class StudioError(Exception):
    """Label Studio could not be reached or refused a request (exit status 1)."""
