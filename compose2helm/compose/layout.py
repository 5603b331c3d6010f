"""Where a compose file sits in a GenAIExamples tree: example, platform, variant, env files.

Old layout:  <Example>/docker/<platform>/compose[_<variant>].yaml
Head layout: <Example>/docker_compose/<vendor>/<kind>/<platform>/compose[_<variant>].yaml
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..util.names import dns_label


# Overlay files patch a base file (`-f base -f overlay`): compose.telemetry.yaml patches
# compose.yaml, compose_tgi.telemetry.yaml patches compose_tgi.yaml, compose_remote.yaml
# patches compose.yaml. Their suffix is not a variant of the base.
OVERLAY_SUFFIXES = (".telemetry", ".monitoring", ".perf")
OVERLAY_NAMES = OVERLAY_SUFFIXES + ("_remote",)
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
    m = _COMPOSE.match(file_name)
    rest = m.group("rest") if m else Path(file_name).stem
    for suffix in OVERLAY_SUFFIXES:
        rest = rest.replace(suffix, "")
    return dns_label(rest.lstrip("._-").replace("_", "-"))


def place(path: Path, example: str | None = None, platform: str | None = None,
          variant: str | None = None) -> Placement:
    path = Path(path)
    parts = path.resolve().parts
    example_dir = None
    for marker in ("docker_compose", "docker"):
        if marker in parts[:-1]:
            i = len(parts) - 2 - parts[:-1][::-1].index(marker)
            if i >= 1:
                example_dir = Path(*parts[:i])
                break
    inferred_example = example_dir.name if example_dir else None
    inferred_platform = path.resolve().parent.name if example_dir else None
    example = example or inferred_example
    platform = platform or inferred_platform
    if not example or not platform:
        raise InputError("cannot tell the example and platform from the path "
                         "(<Example>/docker/<platform>/compose.yaml or <Example>/docker_compose/.../<platform>/"
                         "compose.yaml); give --example and --platform", file=path)
    if not dns_label(example):
        raise InputError(f"example name {example!r} has no letters or digits", file=path)
    platform = dns_label(platform)
    variant = dns_label(variant) if variant is not None else variant_of(path.name)
    inside = str(path.resolve().relative_to(example_dir.parent)) if example_dir else path.name
    return Placement(example, platform, variant, example_dir, inside)


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
    """(base file, overlay tag) when path is an overlay of another compose file, else None."""
    name = Path(path).name
    for marker in OVERLAY_NAMES:
        stem, ext = name.rsplit(".", 1)
        if stem.endswith(marker):
            base = Path(path).with_name(stem[: -len(marker)] + "." + ext)
            if not base.is_file():
                base = Path(path).with_name("compose." + ext)
            return base, marker.strip("._")
    return None
