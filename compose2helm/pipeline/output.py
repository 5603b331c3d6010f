"""Build output in a scratch directory, then move it into place.

Nothing is half-written: a failure before commit() leaves the output tree as it was, and
commit() checks every destination before it writes any. Each file is stamped (stamp.py); a
destination whose stamp no longer matches its content was edited by hand and is only
overwritten with force, as is a file at a generated path that carries no stamp at all.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

from ..errors import InputError
from ..util.scratch import scratch_root
from ..util.stamp import stamp, state


def _check_directory(out: Path) -> None:
    """The output root, and whatever of its path exists, must be directories (not the compose file)."""
    for p in [out, *out.parents]:
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "is not a directory" if p == out else f"is under {p}, which is not a directory"
                raise InputError(f"the output path {what}; --out must name a directory", file=out)
            return


class Staging:
    def __init__(self, out: Path, *, force: bool = False):
        self.out = Path(out)
        self.force = force
        _check_directory(self.out)
        try:
            # Memory-backed scratch when there is one: Helm reads the staged charts many times.
            # Otherwise the scratch goes inside out, which must then exist; else out is made by
            # commit(), so a dry run or a failed conversion leaves no empty directory behind.
            scratch = scratch_root()
            if scratch is None:
                self.out.mkdir(parents=True, exist_ok=True)
            self.root = Path(tempfile.mkdtemp(prefix=".compose2helm-", dir=scratch or self.out))
        except OSError as e:
            raise InputError(f"cannot create the output directory: {e.strerror or e}", file=self.out) from None
        self.files: dict[str, str] = {}
        self._made: set[str] = set()     # folders of the scratch root made by write()

    def write(self, rel: str, text: str) -> None:
        if rel.startswith("/") or ".." in rel.split("/"):
            raise InputError(f"refusing to write outside the output directory: {rel}", file=self.out)
        path = os.path.join(self.root, rel)
        folder = os.path.dirname(path)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        text = stamp(rel, text)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        self.files[rel] = text

    def discard(self, rels: set[str] | list[str]) -> None:
        """Unstage files (and the folders they leave empty), as if never written."""
        for rel in sorted(rels, reverse=True):
            self.files.pop(rel, None)
            path = self.root / rel
            path.unlink(missing_ok=True)
            for parent in path.parents:
                if parent == self.root or any(parent.iterdir()):
                    break
                parent.rmdir()
        self._made.clear()   # some may be gone now

    def link_in(self, rel: str, source: Path) -> None:
        """A directory needed beside the output (to render with) that is not itself output: a
        symlink, which commit() never follows and close() removes without touching its target."""
        dest = self.root / Path(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(Path(source).resolve(), dest, target_is_directory=True)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def _destinations(self) -> dict[str, str | None]:
        """What is at each staged file's destination now, for the files whose content differs."""
        current = {rel: _current(os.path.join(self.out, rel)) for rel in sorted(self.files)}
        return {rel: text for rel, text in current.items() if text != self.files[rel]}

    def pending(self) -> list[str]:
        """The staged files whose destination is missing or differs (a dry run's commit): raises
        the error commit() would, so a dry run refuses a hand-edited file as the real run does."""
        destinations = self._destinations()
        self._check(destinations)
        return list(destinations)

    def commit(self) -> list[str]:
        """Write every changed file into place; returns the paths that changed."""
        destinations = self._destinations()
        self._check(destinations)
        changed = list(destinations)
        if changed:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise InputError(f"cannot create the output directory: {e.strerror or e}", file=self.out) from None
        made: set[str] = set()
        for rel in changed:
            dest = os.path.join(self.out, rel)
            folder, name = os.path.split(dest)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                    f.write(self.files[rel])
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)   # each file appears whole or not at all
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return changed

    def _check(self, destinations: dict[str, str | None]) -> None:
        """Everything commit() checks before it writes anything."""
        out = str(self.out)
        root = str(self.out.resolve())
        inside = root.rstrip(os.sep) + os.sep
        real: dict[str, str] = {}         # folder -> its resolved path (resolved once per folder)
        modes: dict[str, int | None] = {}   # path -> its mode (symlinks followed), None when missing
        for rel in sorted(self.files):
            dest = os.path.join(out, rel)
            folder, name = os.path.split(dest)
            if folder not in real:
                real[folder] = str(Path(folder).resolve())
            resolved = os.path.join(real[folder], name)
            if os.path.islink(resolved):
                resolved = str(Path(resolved).resolve())
            if not resolved.startswith(inside):
                raise InputError(f"{rel} resolves outside the output directory (a symlink?)", file=self.out)
            if stat.S_ISDIR(_mode(dest, modes) or 0):
                raise InputError(f"{rel} is a directory; cannot write a file there", file=self.out)
            parts = Path(rel).parts
            for i in range(len(parts) - 1, 0, -1):   # its folders, nearest first
                parent = "/".join(parts[:i])
                mode = _mode(os.path.join(out, parent), modes)
                if mode is not None and not stat.S_ISDIR(mode):
                    raise InputError(f"{parent} is a file; cannot write {rel} under it", file=self.out)
        if not self.force:
            self._refuse_hand_edits(destinations)

    def _refuse_hand_edits(self, destinations: dict[str, str | None]) -> None:
        why = {"edited": "was edited by hand since compose2helm wrote it",
               "foreign": "was not written by compose2helm"}
        kept = [(rel, why[kind]) for rel, text in destinations.items()
                if text is not None and (kind := state(text)) != "generated"]
        if kept:
            rel, reason = kept[0]
            more = f" ({len(kept) - 1} more like it)" if len(kept) > 1 else ""
            raise InputError(f"{reason}; use --force to overwrite it{more}", file=self.out / rel)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _mode(path: str, known: dict[str, int | None]) -> int | None:
    """st_mode of path, symlinks followed, or None where pathlib's exists() says False."""
    if path not in known:
        try:
            known[path] = os.stat(path).st_mode
        except OSError as e:
            if e.errno not in _MISSING:
                raise
            known[path] = None
        except ValueError:
            known[path] = None
    return known[path]


# What pathlib's exists(), is_dir() and is_file() take for "not there" (other errors are raised).
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _current(path: str) -> str | None:
    """A destination's text, or None when there is no file (an unreadable one counts as foreign)."""
    if not stat.S_ISREG(_mode(path, {}) or 0):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return ""


TREES = ("helm-charts", "manifests")


def generated_files(root: Path) -> dict[str, Path]:
    """Generated files under root's trees; dependency builds (charts/, Chart.lock) are not output."""
    found = {}
    for tree in TREES:
        base = root / tree
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(root)
            if not p.is_file() or "charts" in rel.parts[2:-1] or p.name == "Chart.lock" \
                    or any(part.startswith(".compose2helm-") for part in rel.parts):
                continue
            found[rel.as_posix()] = p
    return found
