"""Errors the CLI turns into one line and exit code 2 (bad input or usage)."""
from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: names the file, and the service and key where there is one."""

    def __init__(self, message: str, file: Path | str | None = None,
                 service: str | None = None, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.service = service
        self.key = key

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.service:
            where.append(f"service {self.service!r}")
        if self.key:
            where.append(f"key {self.key!r}")
        prefix = ": ".join(where)
        text = " ".join(self.message.split())  # always one line
        return f"{prefix}: {text}" if prefix else text


class VerificationError(Exception):
    """Output was produced but does not mean what the input means (exit code 1)."""
