"""Results kept between processes, keyed by the content they were computed from.

Some work gives the same result for the same input every time and recurs in every conversion:
compiling the chart templates (Jinja), parsing generated YAML, generating a chart (its rule or
plan alone decides its files), linting a chart (its files alone decide helm lint's messages),
rendering it with the same values (helm/kept.py). Like Python's bytecode or a linter's cache,
they are kept in $XDG_CACHE_HOME/compose2helm (~/.cache when unset) under a key that
names everything the result depends on; COMPOSE2HELM_NO_CACHE=1 keeps nothing and reads nothing.
What cannot be read or written is only computed again: a cache never changes an output, and
never fails a command.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any, Callable


def enabled() -> bool:
    """Whether results are kept at all (COMPOSE2HELM_NO_CACHE unset): callers skip making keys."""
    return not os.environ.get("COMPOSE2HELM_NO_CACHE")


def cache_dir(kind: str) -> str | None:
    """The directory of one kind of cached result, made on first use; None when caching is off
    or it cannot be made."""
    if not enabled():
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "compose2helm", kind)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    return directory


def load(kind: str, key: str) -> bytes | None:
    directory = cache_dir(kind)
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, key), "rb") as fh:
            return fh.read()
    except OSError:
        return None


def store(kind: str, key: str, data: bytes) -> None:
    """Written whole or not at all (a temporary file renamed), so that processes sharing the
    cache, e.g. migrate's workers, never read half a result."""
    directory = cache_dir(kind)
    if directory is None:
        return
    try:
        with tempfile.NamedTemporaryFile("wb", dir=directory, prefix=key, suffix=".tmp", delete=False) as fh:
            fh.write(data)
        os.replace(fh.name, os.path.join(directory, key))
    except OSError:
        try:
            os.unlink(fh.name)
        except (OSError, NameError):
            pass


def touch(kind: str, key: str) -> None:
    """Mark an entry as just used (its modification time), for prune()."""
    directory = cache_dir(kind)
    if directory is not None:
        try:
            os.utime(os.path.join(directory, key))
        except OSError:
            pass


_PRUNED: set[str] = set()
LIMIT = 4000    # entries of one kind; above it the least recently used half is removed (prune)


def prune(kind: str, limit: int) -> None:
    """Once per process and kind: when more than limit entries are kept, remove the least
    recently used (oldest modification time: touch() on each use) until half of limit remain.
    Called after a new entry is kept: renderings, umbrella charts and parsed overlays grow with
    every new input."""
    directory = cache_dir(kind)
    if directory is None or kind in _PRUNED:
        return
    _PRUNED.add(kind)
    try:
        entries = []
        with os.scandir(directory) as it:
            for entry in it:
                entries.append((entry.stat().st_mtime_ns, entry.name))
    except OSError:
        return
    if len(entries) <= limit:
        return
    for _, name in sorted(entries)[:len(entries) - limit // 2]:
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def parsed(kind: str, text: str, parse: Callable[[str], Any]) -> Any:
    """parse(text), kept as JSON under the text's digest when JSON holds it exactly (not a date,
    a key that is not a string ...). parse's errors are raised as they are and nothing is kept."""
    return computed(kind, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), lambda: parse(text))


def computed(kind: str, key: str, make: Callable[[], Any], valid: Callable[[Any], bool] | None = None) -> Any:
    """make(), kept as JSON under key when JSON holds it exactly; key must name everything the
    result depends on. make's errors are raised as they are and nothing is kept. valid: whether
    what was read back has the shape make() gives (else it is made again, as a damaged entry is)."""
    if cache_dir(kind) is None:
        return make()
    kept = load(kind, key)
    if kept is not None:
        try:
            data = json.loads(kept)
            if valid is None or valid(data):
                touch(kind, key)
                return data
        except ValueError:
            pass
    data = make()
    try:
        encoded = json.dumps(data, allow_nan=False)
        if json.loads(encoded) == data:
            store(kind, key, encoded.encode())
            prune(kind, LIMIT)
    except (TypeError, ValueError):
        pass
    return data


def files_version(root: str) -> str:
    """A digest of the path, size and modification time of each file under root (not
    __pycache__): what names an installed package's code without reading it; a changed or
    reinstalled file changes it."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            try:
                st = os.stat(path)
            except OSError:
                continue
            h.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def made(kind: str, inputs: Any, make: Callable[[], Any], valid: Callable[[Any], bool] | None = None) -> Any:
    """make() for a result compose2helm's code makes from inputs alone (a chart from its rule),
    kept (computed) under repr(inputs) and code_version(): the inputs' digest alone would keep
    a result of older code. With nothing kept, no key is made."""
    if not enabled():
        return make()
    key = hashlib.sha256(f"{code_version()} {inputs!r}".encode("utf-8", "surrogatepass")).hexdigest()
    return computed(kind, key, make, valid)


_CODE: list[str] = []


def code_version() -> str:
    """What names this installation of compose2helm's code (files_version of the package, and its
    version): for results its code computes from data alone (a common chart from its rule),
    where the data's digest alone would keep a result of older code."""
    if not _CODE:
        from .. import __version__
        _CODE.append(f"{__version__} {files_version(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}")
    return _CODE[0]


def template_cache() -> Any:
    """Jinja's own cache of compiled templates (a jinja2 BytecodeCache), keyed by each template's
    source checksum and the Python version; None when caching is off. A write that fails is only
    not kept. Jinja is imported here, by the charts that use it, not by every user of the cache."""
    directory = cache_dir("templates")
    if directory is None:
        return None
    import jinja2

    class TemplateCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    return TemplateCache(directory)


def text_files(data: Any) -> bool:
    """The shape of a generated chart: file name -> text."""
    return isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
