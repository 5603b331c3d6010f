"""Accelerators: how compose asks for a device, and the device-plugin resource that replaces it."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..compose import interpolate
from ..compose.model import Service
from .rules import AcceleratorProfile, Policy


@dataclass(frozen=True)
class Accelerator:
    profile: AcceleratorProfile
    count: int
    count_from: str          # where the count came from, for the report
    count_variable: str = "" # the variable that carries the count, when there is one


def detect(service: Service, policy: Policy) -> AcceleratorProfile | None:
    for profile in policy.accelerators:
        if service.runtime and service.runtime in profile.runtimes:
            return profile
        if any(e in service.environment for e in profile.env):
            return profile
        if profile.devices and all(any(_same_device(d.split(":")[0], dev) for d in service.devices)
                                   for dev in profile.devices):
            return profile
        if service.deploy and any(r.driver in profile.device_drivers for r in service.deploy.devices):
            return profile
    return None


def accelerator(service: Service, policy: Policy, variables: dict) -> Accelerator | None:
    profile = detect(service, policy)
    if profile is None:
        return None
    if service.deploy:
        for r in service.deploy.devices:
            if r.driver in profile.device_drivers and r.count:
                return Accelerator(profile, r.count, "deploy.resources.reservations.devices.count")
    for name in profile.count_env:
        t = service.environment.get(name)
        if t is not None:
            n = _int(interpolate.value(t, variables))
            var = t.parts[0].name if len(t.parts) == 1 and not isinstance(t.parts[0], str) else ""
            if n:
                return Accelerator(profile, n, f"environment.{name}", var)
            if var:
                return Accelerator(profile, 1, f"environment.{name} (unset: 1)", var)
    words = _words(list(service.entrypoint or []) + list(service.command or []), variables)
    for i, (text, var_of) in enumerate(words):
        for flag in profile.count_flags:
            value, var = None, ""
            if text == flag and i + 1 < len(words):
                value, var = words[i + 1]
            elif text.startswith(flag + "="):
                value = text.split("=", 1)[1]
            if value is not None:
                n = _int(value)
                return Accelerator(profile, n or 1, f"command {flag}" + ("" if n else " (unset: 1)"), var)
    return Accelerator(profile, 1, "default")


def _words(templates: list, variables: dict) -> list[tuple[str, str]]:
    """(text, variable it is made of) per word; a `sh -c "..."` script is split into its words."""
    out: list[tuple[str, str]] = []
    for t in templates:
        text = interpolate.value(t, variables)
        var = t.parts[0].name if len(t.parts) == 1 and not isinstance(t.parts[0], str) else ""
        if any(c.isspace() for c in text.strip()):
            try:
                out.extend((w, "") for w in shlex.split(text))
            except ValueError:
                out.extend((w, "") for w in text.split())
        else:
            out.append((text, var))
    return out


def _same_device(path: str, wanted: str) -> bool:
    """/dev/dri/renderD128 is one of /dev/dri."""
    wanted = wanted.rstrip("/")
    path = path.rstrip("/")
    return path == wanted or path.startswith(wanted + "/")


def _int(text: str) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        return 0
    return n if n > 0 else 0
