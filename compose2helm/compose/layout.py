"""Where a compose file sits in a GenAIExamples tree: example, platform, variant, env files.

Old layout:  <Example>/docker/<platform>/compose[_<variant>].yaml
Head layout: <Example>/docker_compose/<vendor>/<kind>/<platform>/compose[_<variant>].yaml
Any other place: the example is the compose project's name (top-level `name:`), else the folder
the file is in, as compose derives its project name; the platform is DEFAULT_PLATFORM.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..util.names import dns_label
from .read import read_yaml


# Overlay files patch a base file (`-f base -f overlay`): compose.telemetry.yaml patches
# compose.yaml, compose_tgi.telemetry.yaml patches compose_tgi.yaml, compose_remote.yaml
# patches compose.yaml. Their suffix is not a variant of the base.
OVERLAY_SUFFIXES = (".telemetry", ".monitoring", ".perf")
OVERLAY_NAMES = OVERLAY_SUFFIXES + ("_remote",)
DEFAULT_PLATFORM = "default"   # a file outside the GenAIExamples layouts says nothing of its platform
_COMPOSE = re.compile(r"^(?:docker-)?compose(?P<rest>.*)\.ya?ml$")


@dataclass(frozen=True)
class Placement:
    example: str          # ChatQnA
    platform: str         # gaudi
    variant: str          # tgi, or ""
    example_dir: Path | None
    inside: str           # the file's path from the example's parent, for headers: ChatQnA/docker/gaudi/compose.yaml

    @property
    def chart(self) -> str:
        return dns_label(self.example)


def variant_of(file_name: str) -> str:
    """The variant a file's name gives: compose_tgi.yaml -> tgi, compose.monitoring.yaml ->
    monitoring. A file converted on its own is complete (overlays are told by content and get
    their base's variant plus their tag), so no part of its name is dropped."""
    m = _COMPOSE.match(file_name)
    rest = m.group("rest") if m else Path(file_name).stem
    return dns_label(rest.lstrip("._-").replace("_", "-").replace(".", "-"))


def place(path: Path, example: str | None = None, platform: str | None = None,
          variant: str | None = None, project_name: str | None = None) -> Placement:
    """Example, platform and variant of a compose file: flags first, then the GenAIExamples
    layout, then (outside it) the compose project name or folder and DEFAULT_PLATFORM."""
    path = Path(path)
    parts = path.resolve().parts
    example_dir = None
    for marker in ("docker_compose", "docker"):
        if marker in parts[:-1]:
            i = len(parts) - 2 - parts[:-1][::-1].index(marker)
            if i >= 1:
                example_dir = Path(*parts[:i])
                break
    if example_dir:
        inferred_example, inferred_platform = example_dir.name, path.resolve().parent.name
    else:
        inferred_example, inferred_platform = project_name or path.resolve().parent.name, DEFAULT_PLATFORM
    example = example or inferred_example
    platform = platform or inferred_platform
    if not dns_label(example):
        raise InputError(f"example name {example!r} has no letters or digits", file=path)
    platform = dns_label(platform)
    variant = dns_label(variant) if variant is not None else variant_of(path.name)
    inside = str(path.resolve().relative_to(example_dir.parent)) if example_dir else path.name
    return Placement(example, platform, variant, example_dir, inside)


_NAME = re.compile(r"""^name:[ \t]*(?:"([^"$\n]*)"|'([^'$\n]*)'|([^\s#'"$]+))[ \t]*(?:#.*)?$""", re.M)


def project_name(path: Path) -> str | None:
    """The compose project's own name (top-level `name:`), when the file states it plainly.

    Read before the file is loaded, since the name decides the env files' place in the output;
    a name built from variables is left to the folder, as the variables are not read yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None   # loading the file reports it
    m = _NAME.search(text)
    return next((g for g in m.groups() if g), None) if m else None


def discover_env_files(path: Path, variant: str, stop: Path | None) -> list[Path]:
    """The set_env data a compose file was used with: beside it, else one or two levels up.

    `.env` beside the file comes first (compose reads it itself); then the closest
    set_env_<variant>.{env,sh} or set_env.{env,sh}.
    """
    here = Path(path).resolve().parent
    found: list[Path] = []
    if (here / ".env").is_file():
        found.append(here / ".env")
    d = here
    for _ in range(3):
        names = ([f"set_env_{variant.replace('-', '_')}", f"set_env_{variant}"] if variant else []) + ["set_env"]
        for name in names:
            for ext in (".env", ".sh"):
                if (d / (name + ext)).is_file():
                    return found + [d / (name + ext)]
        if stop is not None and d == stop.resolve() or d.parent == d:
            break
        d = d.parent
    return found


def overlay_base(path: Path) -> tuple[Path, str] | None:
    """(base file, overlay tag) when path patches another compose file beside it, else None.

    Told by content, whatever the file's name: a service with neither image nor build, or a
    depends_on naming a service the file does not define, needs a file that defines it. The base
    is the sibling the name points to (compose_tgi.telemetry.yaml -> compose_tgi.yaml) when it
    defines them, else compose.yaml, else the first other sibling that does. A complete file is
    converted on its own, whatever its name. With no such sibling, the named base is returned
    (missing or not), so the caller reports the overlay without its base."""
    path = Path(path)
    needed = _needed_services(path)
    if not needed:
        return None
    stem, ext = path.name.rsplit(".", 1)
    marker = next((m for m in OVERLAY_NAMES if stem.endswith(m)), None)
    named = path.with_name(stem[: -len(marker)] + "." + ext) if marker else None
    tag = marker.strip("._") if marker else variant_of(path.name)
    siblings = sorted(p for p in path.parent.glob("*compose*.y*ml") if p != path and _COMPOSE.match(p.name))
    plain = [p for p in siblings if p.name in ("compose.yaml", "compose.yml")]
    for candidate in [named] * bool(named) + plain + siblings:
        if candidate.is_file() and needed <= _defined_services(candidate):
            return candidate, tag
    return (named if named and named.is_file() else path.with_name("compose." + ext)), tag


def undefined_beside(path: Path) -> list[str]:
    """The services an overlay uses that no other compose file in its folder defines: what a
    base file for it would have to bring."""
    path = Path(path)
    defined: set[str] = set()
    for sibling in path.parent.glob("*compose*.y*ml"):
        if sibling != path and _COMPOSE.match(sibling.name):
            defined |= _defined_services(sibling)
    return sorted(_needed_services(path) - defined)


def defining_sibling(path: Path, service: str) -> Path | None:
    """The first other compose file beside path that defines service with an image or a build:
    the base a file patching that service was written for."""
    path = Path(path)
    for sibling in sorted(path.parent.glob("*compose*.y*ml")):
        if sibling != path and _COMPOSE.match(sibling.name):
            services = _compose_doc(sibling).get("services")
            svc = services.get(service) if isinstance(services, dict) else None
            if isinstance(svc, dict) and (svc.get("image") or svc.get("build")):
                return sibling
    return None


def _compose_doc(path: Path) -> dict:
    try:
        doc = read_yaml(path)
    except InputError:
        return {}   # converting it says what is wrong
    return doc if isinstance(doc, dict) else {}


def _defined_services(path: Path) -> set[str]:
    services = _compose_doc(path).get("services")
    return {str(s) for s in services} if isinstance(services, dict) else set()


def _needed_services(path: Path) -> set[str]:
    """Services the file uses but does not complete: patched ones, and depends_on targets that
    neither it nor the files it includes (`include:`) define."""
    services = _compose_doc(path).get("services")
    if not isinstance(services, dict):
        return set()
    needed = set()
    for name, svc in services.items():
        svc = svc if isinstance(svc, dict) else {}
        if not svc.get("image") and not svc.get("build") and not svc.get("extends"):
            needed.add(str(name))
        deps = svc.get("depends_on") or []
        needed |= {str(d) for d in (deps if isinstance(deps, (list, dict)) else [])} - {str(s) for s in services}
    return needed - _included_services(path, set()) if needed else needed


def _included_services(path: Path, seen: set[Path]) -> set[str]:
    """Services of the files path includes, and of theirs. An entry is a path, a mapping whose
    path is one or a list, relative to the including file; one built from variables is left to
    loading, which reports what is wrong with it."""
    seen.add(path.resolve())
    found: set[str] = set()
    for entry in _compose_doc(path).get("include") or []:
        given = entry.get("path") if isinstance(entry, dict) else entry
        for rel in given if isinstance(given, list) else [given]:
            if not isinstance(rel, str) or "$" in rel:
                continue
            included = (path.parent / rel).resolve()
            if included.is_file() and included not in seen:
                found |= _defined_services(included) | _included_services(included, seen)
    return found
