"""The typed model of a compose project, independent of Helm.

Loading produces a :class:`ComposeProject`; mapping reads it and never looks at YAML again.
Strings that may carry compose variables and whose *meaning* survives into the chart
(environment, command, entrypoint, healthcheck, volume sources) are kept as :class:`Template`
so later stages can turn each variable into a Helm value instead of a baked-in string.
Structural fields (image, ports, sizes, counts) are interpolated at load time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union


@dataclass(frozen=True)
class Var:
    """One `${NAME...}` reference.

    op is "" (plain), ":-" / "-" (default), ":?" / "?" (required), ":+" / "+" (alternative).
    `arg` is the default / alternative / error message, itself a template.
    """

    name: str
    op: str = ""
    arg: "Template | None" = None


Part = Union[str, Var]


@dataclass(frozen=True)
class Template:
    """A string with compose variables: literal text and :class:`Var` parts, in order."""

    parts: tuple[Part, ...] = ()

    @staticmethod
    def literal(text: str) -> "Template":
        return Template((text,) if text else ())

    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def variables(self) -> list[Var]:
        """Every variable referenced, including those nested in defaults."""
        found: list[Var] = []
        for p in self.parts:
            if isinstance(p, Var):
                found.append(p)
                if p.arg is not None:
                    found.extend(p.arg.variables())
        return found

    def source(self) -> str:
        """The compose spelling of this template (`$` escaped as `$$`)."""
        out = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p.replace("$", "$$"))
            else:
                arg = p.arg.source() if p.arg is not None else ""
                out.append("${" + p.name + p.op + arg + "}")
        return "".join(out)

    def __str__(self) -> str:  # for messages only
        return self.source()


@dataclass(frozen=True)
class Port:
    """A container port, optionally published on the host."""

    target: int
    published: int | None = None
    protocol: str = "tcp"
    host_ip: str | None = None


@dataclass(frozen=True)
class Volume:
    """A mount. type is bind, volume or tmpfs; source is interpolated, source_template is not."""

    type: str
    target: str
    source: str | None = None
    source_template: Template | None = None
    read_only: bool = False


@dataclass(frozen=True)
class Healthcheck:
    """test is the compose test list: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]."""

    test: tuple[Template, ...]
    interval: float | None = None      # seconds
    timeout: float | None = None
    retries: int | None = None
    start_period: float | None = None
    disable: bool = False


@dataclass(frozen=True)
class DeviceRequest:
    """deploy.resources.reservations.devices entry."""

    driver: str | None = None
    count: int | None = None           # None means "all"
    capabilities: tuple[str, ...] = ()
    device_ids: tuple[str, ...] = ()


@dataclass
class Deploy:
    mode: str | None = None            # replicated | global
    replicas: int | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None
    cpu_request: str | None = None
    memory_request: str | None = None
    devices: list[DeviceRequest] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)    # placement.constraints: "node.labels.x==y"
    preferences: list[str] = field(default_factory=list)    # placement.preferences: the spread keys
    max_replicas_per_node: int | None = None
    others: list[str] = field(default_factory=list)         # the deploy keys read here but not above


@dataclass
class Service:
    name: str
    file: Path                          # the file that declared it (messages name it)
    image: str | None = None            # interpolated with defaults
    build: bool = False
    pull_policy: str | None = None      # compose's word (always, missing, daily, ...); None: not said
    command: list[Template] | None = None       # shell-split when given as a string
    entrypoint: list[Template] | None = None
    environment: dict[str, Template | None] = field(default_factory=dict)  # None: `- KEY` pass-through
    ports: list[Port] = field(default_factory=list)
    expose: list[int] = field(default_factory=list)
    expose_protocols: dict[int, list[str]] = field(default_factory=dict)   # "53/udp": {53: ["udp"]}; tcp: absent
    volumes: list[Volume] = field(default_factory=list)
    depends_on: dict[str, str] = field(default_factory=dict)   # name -> condition
    healthcheck: Healthcheck | None = None
    container_name: str | None = None
    restart: str | None = None
    runtime: str | None = None
    ipc: str | None = None
    shm_size: int | None = None         # bytes
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    privileged: bool = False
    user: str | None = None
    working_dir: str | None = None
    read_only: bool = False
    network_mode: str | None = None
    profiles: list[str] = field(default_factory=list)
    deploy: Deploy | None = None
    tmpfs: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)   # keys the model does not interpret
    keys: tuple[str, ...] = ()          # top-level compose keys after merge/extends, sorted (explain)


@dataclass
class ComposeProject:
    files: list[Path]
    services: dict[str, Service]
    variables: dict[str, Template]       # from env files, later files win; values may reference others
    env_files: list[Path] = field(default_factory=list)
    named_volumes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
