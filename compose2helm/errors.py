"""Errors the CLI turns into one line and exit code 2 (bad input or usage)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


class InputError(Exception):
    """Bad input: names the file (with the line and column where they are known), and the service
    and key where there is one."""

    def __init__(self, message: str, file: Path | str | None = None,
                 service: str | None = None, key: str | None = None,
                 line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.service = service
        self.key = key
        self.line = line          # 1-based, as editors count
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.file:
            # FILE:LINE:COL, the form compilers use and editors jump to
            where.append(":".join([self.file] + [str(n) for n in (self.line, self.column) if n is not None]))
        if self.service:
            where.append(f"service {self.service!r}")
        if self.key:
            where.append(f"key {self.key!r}")
        prefix = ": ".join(where)
        text = " ".join(self.message.split())  # always one line
        return f"{prefix}: {text}" if prefix else text

    def as_dict(self) -> dict[str, Any]:
        """The error as `--format json` reports it."""
        return {"message": " ".join(self.message.split()), "file": self.file, "service": self.service,
                "key": self.key, "line": self.line, "column": self.column}


class VerificationError(Exception):
    """Output was produced but does not mean what the input means (exit code 1)."""
