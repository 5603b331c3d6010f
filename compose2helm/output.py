"""Build output in a scratch directory beside the destination, then move it into place.

Nothing is half-written: a failure before commit() leaves the output tree as it was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import InputError


def _check_directory(out: Path) -> None:
    """The output root, and whatever of its path exists, must be directories (not the compose file)."""
    for p in [out, *out.parents]:
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "is not a directory" if p == out else f"is under {p}, which is not a directory"
                raise InputError(f"the output path {what}; --out must name a directory", file=out)
            return


class Staging:
    def __init__(self, out: Path):
        self.out = Path(out)
        _check_directory(self.out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.root = Path(tempfile.mkdtemp(prefix=".compose2helm-", dir=self.out))
        except OSError as e:
            raise InputError(f"cannot create the output directory: {e.strerror or e}", file=self.out) from None
        self.files: dict[str, str] = {}

    def write(self, rel: str, text: str) -> None:
        rel_path = Path(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise InputError(f"refusing to write outside the output directory: {rel}", file=self.out)
        path = self.root / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.files[rel] = text

    def path(self, rel: str) -> Path:
        return self.root / rel

    def commit(self) -> list[str]:
        """Move every staged file into place; returns the paths that changed."""
        root = self.out.resolve()
        for rel in sorted(self.files):   # check everything before moving anything
            dest = self.out / rel
            if root not in dest.resolve().parents:
                raise InputError(f"{rel} resolves outside the output directory (a symlink?)", file=self.out)
            if dest.is_dir():
                raise InputError(f"{rel} is a directory; cannot write a file there", file=self.out)
            for parent in Path(rel).parents:
                if parent != Path(".") and (self.out / parent).exists() and not (self.out / parent).is_dir():
                    raise InputError(f"{parent.as_posix()} is a file; cannot write {rel} under it", file=self.out)
        changed = []
        for rel in sorted(self.files):
            dest = self.out / rel
            if dest.is_file() and dest.read_text(encoding="utf-8") == self.files[rel]:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.root / rel, dest)
            changed.append(rel)
        return changed

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
