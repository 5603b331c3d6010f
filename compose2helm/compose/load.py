"""Load compose files into a model.ComposeProject.

Order, as Compose does it: read each file's YAML and validate it against the compose-spec schema
(before interpolation), resolve `include` and `extends` per file, merge `-f` files service by
service, then normalise every service into the typed model, interpolating structural fields and
keeping meaning-carrying strings (environment, command, ...) as Templates.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable

from ..errors import InputError
from .envfile import read_env_file
from .layout import defining_sibling
from .merge import Loader, merge_service
from .model import ComposeProject, Service, Template
from .normalise import Normaliser


def compose_project_name(doc: dict, file: Path) -> str:
    """Compose's project name: the top-level `name`, else the first file's folder, lower-cased
    to what compose allows (letters, digits, `-` and `_`)."""
    name = doc.get("name") if isinstance(doc.get("name"), str) and "$" not in doc.get("name") else None
    name = name or Path(file).resolve().parent.name
    return re.sub(r"[^a-z0-9_-]", "", name.lower()) or "default"


def load_project(files: list[Path], env_files: Iterable[Path] = (),
                 environ: dict[str, str] | None = None, *, strict: bool = False,
                 secret: Callable[[str], bool] = lambda name: False) -> ComposeProject:
    """Load `-f` files in order; env files (later wins) then `environ` give the variables.

    environ=None means the process environment is NOT read, so output is deterministic.
    Unknown top-level and service keys are dropped with a warning, or fatal when `strict`.
    A `${V:?msg}` on a variable `secret` names is left to install time: secrets are never read
    from env files, so such a file could not convert otherwise.
    """
    files = [Path(f) for f in files]
    if not files:
        raise InputError("no compose file given")
    variables: dict[str, Template] = {}
    warnings: list[str] = []
    for f in env_files:
        values, notes = read_env_file(Path(f))
        variables.update(values)
        warnings += notes
    if environ is not None:
        variables.update({k: Template.literal(v) for k, v in environ.items()})
    ld = Loader(variables, warnings, strict)
    ld.env_files = [Path(f) for f in env_files]

    services: dict[str, dict] = {}
    origin: dict[str, Path] = {}
    volumes: dict[str, None] = {}
    for f in files:
        svcs, orig, vols = ld.load_file(f, ())
        for name, raw in svcs.items():
            if name in services:
                services[name] = merge_service(services[name], raw)
            else:
                services[name], origin[name] = raw, orig[name]
        volumes.update(dict.fromkeys(vols))

    project = compose_project_name(ld.doc(files[0]), files[0])
    model: dict[str, Service] = {}
    for name, raw in services.items():
        if "image" not in raw and "build" not in raw:
            if isinstance(raw.get("provider"), dict):   # compose >= 2.36: a host-side plugin, not a container
                raise InputError(f"a provider service ({raw['provider'].get('type', '?')}) is run by a compose "
                                 "plugin on the host and has no container: Kubernetes has no equivalent; give "
                                 "the service an image", origin[name], name, "provider")
            base = defining_sibling(Path(origin[name]), name)   # a fragment, patching its base's service
            hint = (f"; {base.name} beside it defines the service: convert the two together, "
                    f"compose2helm convert {base.name} -f {Path(origin[name]).name}") if base else ""
            raise InputError("service has neither an image nor a build" + hint, origin[name], name, "image")
        model[name] = Normaliser(variables, origin[name], name, warnings, secret).service(raw)
        if model[name].image is None and model[name].build:
            # The image `docker compose build` tags: the cluster cannot build it, so it must be pushed.
            model[name].image = f"{project}-{name}"
            warnings.append(f"{origin[name]}: service {name!r} is built from source: its image {project}-{name} "
                            "must be pushed to a registry the cluster pulls from (set its image.repository)")
    for s in model.values():
        for dep in s.depends_on:
            if dep not in model:
                raise InputError(f"depends on undefined service {dep!r}", s.file, s.name,
                                 "depends_on")
    return ComposeProject(files=files, services=model, variables=variables,
                          env_files=ld.env_files, named_volumes=list(volumes), warnings=warnings)
