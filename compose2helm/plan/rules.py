"""Mapping rules: YAML data under mappings/ that say what each image family becomes.

One file per component (`kind: component` or `kind: megaservice`), plus `_policy.yaml` for
the project-wide tables (proxies, secrets, host variables, endpoint hints, model cache
binds, accelerator profiles). Adding a component is adding a file, not code.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..util import cache
from ..util.globs import glob_match
from ..yamlout import SAFE_LOADER
from .env_values import EnvValue, parse_env_values
from .podsecurity import parse_identity
from .requests import parse_models, parse_requests


BUILTIN = "compose2helm.mappings"


@dataclass(frozen=True)
class NamedValue:
    """A chart value that env variables and command flags of the component feed."""

    key: str
    description: str = ""
    default: str = ""
    env: tuple[str, ...] = ()      # env var names whose value becomes this value
    flags: tuple[str, ...] = ()    # command flags whose argument becomes this value


@dataclass(frozen=True)
class Rule:
    component: str
    file: str
    kind: str = "component"        # component | megaservice
    description: str = ""
    priority: int = 0
    images: tuple[str, ...] = ()   # fnmatch patterns on the repository (registry/path, no tag)
    service_names: tuple[str, ...] = ()   # extra condition: one must match the service name
    references: tuple[str, ...] = ()      # extra condition: one variable must appear in command/env
    image: dict[str, str] = field(default_factory=dict)   # default repository/tag of the chart
    ports: tuple[dict[str, Any], ...] = ()                 # default service ports
    values: tuple[NamedValue, ...] = ()
    probe: dict[str, Any] = field(default_factory=dict)   # used when compose declares no healthcheck
    keywords: tuple[str, ...] = ()
    gmc: dict[str, str] = field(default_factory=dict)     # GMConnector step: {step, endpoint}
    gmc_images: dict[str, str] = field(default_factory=dict)   # image pattern -> step name, when it differs
    # What the chart does installed on its own (overlays always say what compose says):
    default_args: tuple[str, ...] = ()
    default_env: dict[str, str] = field(default_factory=dict)
    default_secret_env: dict[str, str] = field(default_factory=dict)
    model_path: str = ""           # default mount point of the model cache
    nests: tuple[str, ...] = ()    # nested (RFC) layout: engines this chart carries as dependencies
    read_only_root: bool = False   # the image runs with a read-only root filesystem
    capabilities: tuple[str, ...] = ()   # what the image needs to start (Docker grants them by default)
    writable: tuple[str, ...] = ()     # paths it writes to all the same: emptyDirs there
    identity: dict[str, int] = field(default_factory=dict)   # runAsUser/runAsGroup/fsGroup it runs as (podsecurity.py)
    # Prometheus metrics it serves (Service port name, path, dashboard panels) and how it
    # autoscales (replica bounds, the custom metric it scales on): chart/observability.py reads them.
    monitoring: dict[str, Any] = field(default_factory=dict)
    autoscaling: dict[str, Any] = field(default_factory=dict)
    generic: bool = False          # built from the service alone: no rule knew the image
    # Kubernetes resource requests (cpu, memory) the chart asks for by default, and those it asks
    # for instead on a device-plugin resource (GenAIInfra's facts; compose's own resources win).
    requests: dict[str, str] = field(default_factory=dict)
    accelerator_requests: dict[str, dict[str, str]] = field(default_factory=dict)
    models: tuple[str, ...] = ()   # named values holding the model ids modelDownload fetches
    env_values: tuple[EnvValue, ...] = ()   # settings by name that become env entries when set (env_values.py)
    instance_name: str = ""        # the umbrella's key for it, "{chart}" the example's chart ("" = component)
    entry_point: int = 0           # where users come in: the lowest running rank is the entry (0: never)

    def matches(self, repository: str, service: str, variables: set[str]) -> bool:
        if not any(glob_match(repository, p) for p in self.images):
            return False
        if self.service_names or self.references:
            by_name = any(glob_match(service, p) for p in self.service_names)
            by_ref = any(r in variables for r in self.references)
            return by_name or by_ref
        return True

    def value_for_env(self, name: str) -> NamedValue | None:
        return next((v for v in self.values if name in v.env), None)

    def value_for_flag(self, flag: str) -> NamedValue | None:
        return next((v for v in self.values if flag in v.flags), None)


@dataclass(frozen=True)
class AcceleratorProfile:
    name: str
    resource: str
    runtimes: tuple[str, ...] = ()
    env: tuple[str, ...] = ()            # presence of one of these env vars selects the profile
    devices: tuple[str, ...] = ()        # host device paths that select it (all must be present)
    device_drivers: tuple[str, ...] = () # deploy.resources.reservations.devices driver
    image_patterns: tuple[str, ...] = ()
    count_env: tuple[str, ...] = ()
    count_flags: tuple[str, ...] = ()
    not_carried_env: tuple[str, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    gmc_suffix: str = ""                 # GMConnector step names of its services end with this


@lru_cache(maxsize=64)
def _any_pattern(patterns: tuple[str, ...]) -> re.Pattern:
    """One expression matching what any of the fnmatch patterns matches (case-sensitively, as
    fnmatchcase): every variable of every service is asked whether it is a secret."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns) or "(?!)")


@dataclass(frozen=True)
class OverlayNames:
    """How an overlay (a values file, and the folder of its manifest) is named: GenAIInfra's
    values-file names, so `-f gaudi-values.yaml` means the same deployment with either chart.

    <prefix words>-<platform>-<other words>-<engine word>: the platform as GenAIInfra calls it,
    the variant's words in GenAIInfra's places, and the word of the LLM engine the file deploys
    (the engine words of the file name are dropped: the content says which engine runs)."""

    platforms: dict[str, str] = field(default_factory=dict)   # compose platform -> name
    prefix_words: tuple[str, ...] = ()                         # variant words put before the platform
    renamed_words: dict[str, str] = field(default_factory=dict)
    engines: tuple[tuple[str, str], ...] = ()                  # (component, word), first present wins
    platform_engines: dict[str, str] = field(default_factory=dict)   # platform -> its default engine (no word)

    def name(self, platform: str, variant: str, components: set[str]) -> str:
        words = [self.renamed_words.get(w, w) for w in _variant_words(variant, self.renamed_words)]
        engine_words = {w for _c, w in self.engines if w} | {c for c, _w in self.engines}
        words = [w for w in words if w not in engine_words]
        found = next(((c, w) for c, w in self.engines if c in components), None)
        engine = None if found is None else self._engine_word(platform, *found)
        if engine is None:   # no engine this table knows: the file's own words stay
            words = [self.renamed_words.get(w, w) for w in _variant_words(variant, self.renamed_words)]
            engine = ""
        prefix = [w for w in words if w in self.prefix_words]
        rest = [w for w in words if w not in self.prefix_words]
        parts = prefix + [self.platforms.get(platform, platform)] + rest + ([engine] if engine else [])
        return "-".join(parts)

    def _engine_word(self, platform: str, component: str, word: str) -> str:
        default = self.platform_engines.get(platform)
        if default is None:
            return word
        # A platform whose plain file runs another engine names every engine but that one.
        return "" if component == default else (word or component)


def _variant_words(variant: str, renamed: dict[str, str]) -> list[str]:
    """A variant's words; a renamed phrase of several words (without-rerank) stays one word."""
    words, rest = [], variant
    while rest:
        phrase = next((p for p in sorted(renamed, key=len, reverse=True)
                       if rest == p or rest.startswith(p + "-")), None)
        word = phrase or rest.split("-", 1)[0]
        words.append(word)
        rest = rest[len(word):].lstrip("-")
    return words


@dataclass(frozen=True)
class Policy:
    proxies: tuple[str, ...]
    secret_patterns: tuple[str, ...]
    secret_exceptions: tuple[str, ...]
    token_variables: tuple[str, ...]
    host_variables: tuple[str, ...]
    endpoint_hints: dict[str, tuple[str, ...]]   # env var name -> components it may name
    model_cache_sources: tuple[str, ...]    # variable names / literal paths of model cache binds
    model_cache_targets: tuple[str, ...]
    accelerators: tuple[AcceleratorProfile, ...]
    endpoint_variables: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    overlay_names: OverlayNames = field(default_factory=lambda: OverlayNames())
    file: str = ""
    # A chart run by several services is keyed by service name, without these endings where one
    # of them is then the chart's own name (vllm-service, vllm-guardrails-service: vllm, vllm-guardrails).
    instance_suffixes: tuple[str, ...] = ()
    # Words of an env var name that say its value is an address (REDIS_HOST, DB_SERVER, API_URL):
    # only there may a bare service name (no scheme, no port) be taken for the service.
    address_words: tuple[str, ...] = ()

    def is_proxy(self, name: str) -> bool:
        return name in self.proxies

    def holds_address(self, name: str) -> bool:
        """Whether env var `name` may hold a bare host: `MYSQL_DATABASE=wordpress` names a database,
        not the service wordpress; `WORDPRESS_DB_HOST=db`, `no_proxy=...,redis` name hosts."""
        if self.is_proxy(name.lower()) or name in self.endpoint_hints:     # NO_PROXY as no_proxy
            return True
        return any(word in self.address_words for word in name.upper().split("_"))

    def is_secret(self, name: str) -> bool:
        if _any_pattern(self.secret_exceptions).match(name) is not None:
            return False
        return _any_pattern(self.secret_patterns).match(name) is not None

    def is_host_variable(self, name: str) -> bool:
        return name in self.host_variables


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    policy: Policy

    def match(self, image: str, service: str, variables: set[str]) -> Rule | None:
        repository = image_repository(image)
        found = [r for r in self.rules if r.matches(repository, service, variables)]
        if not found:
            return None
        # Highest priority wins; ties broken by name so the choice never depends on file order.
        found.sort(key=lambda r: (-r.priority, r.component))
        return found[0]

    def by_component(self, component: str) -> Rule | None:
        return next((r for r in self.rules if r.component == component), None)


_TAG = re.compile(r"^(?P<repo>.+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z0-9]+:[0-9a-fA-F]+))?$")


def split_image(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest); a registry port (`host:5000/x`) is not a tag."""
    m = _TAG.match(image)
    if not m:
        return image, "", ""
    repo, tag, digest = m.group("repo"), m.group("tag") or "", m.group("digest") or ""
    if "/" in tag:  # `host:5000/name` matched the port as tag
        return image.split("@")[0], "", digest
    return repo, tag, digest


def image_repository(image: str) -> str:
    return split_image(image)[0]


def _tuple(data: dict, key: str) -> tuple:
    v = data.get(key) or ()
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


def _rule(data: dict, file: str) -> Rule:
    match = data.get("match") or {}
    values = tuple(
        NamedValue(
            key=k,
            description=str(v.get("description", "")),
            default=str(v.get("default", "")),
            env=_tuple(v, "env"),
            flags=_tuple(v, "flags"),
        )
        for k, v in (data.get("values") or {}).items()
    )
    return Rule(
        component=str(data["component"]),
        file=file,
        kind=str(data.get("kind", "component")),
        entry_point=int(data.get("entry_point", 0)),
        description=str(data.get("description", "")),
        priority=int(data.get("priority", 0)),
        images=_tuple(match, "images"),
        service_names=_tuple(match, "service_names"),
        references=_tuple(match, "references"),
        image=dict(data.get("image") or {}),
        ports=tuple(data.get("ports") or ()),
        values=values,
        probe=dict(data.get("probe") or {}),
        keywords=_tuple(data, "keywords"),
        gmc={str(k): str(v) for k, v in (data.get("gmc") or {}).items() if k != "images"},
        gmc_images={str(k): str(v) for k, v in ((data.get("gmc") or {}).get("images") or {}).items()},
        default_args=tuple(str(a) for a in (data.get("defaults") or {}).get("args") or ()),
        default_env={str(k): str(v) for k, v in ((data.get("defaults") or {}).get("env") or {}).items()},
        default_secret_env={str(k): str(v)
                            for k, v in ((data.get("defaults") or {}).get("secretEnv") or {}).items()},
        model_path=str((data.get("defaults") or {}).get("modelCachePath") or ""),
        nests=_tuple(data, "nests"),
        read_only_root=bool((data.get("security") or {}).get("readOnlyRootFilesystem", False)),
        capabilities=tuple(sorted(str(c) for c in (data.get("security") or {}).get("capabilities") or ())),
        writable=tuple(str(p) for p in (data.get("security") or {}).get("writable") or ()),
        identity=parse_identity(data.get("security"), file),
        monitoring=dict(data.get("monitoring") or {}),
        autoscaling=dict(data.get("autoscaling") or {}),
        env_values=parse_env_values(data.get("env_values"), {v.key: v.default for v in values}),
        instance_name=str(data.get("instance_name") or ""),
        requests=parse_requests(data.get("requests"), "requests"),
        accelerator_requests={str(k): parse_requests(v, f"accelerator_requests.{k}")
                              for k, v in (data.get("accelerator_requests") or {}).items()},
        models=parse_models(data.get("models"), {v.key for v in values}),
    )



def _policy(data: dict, file: str) -> Policy:
    accel = tuple(
        AcceleratorProfile(
            name=str(a["name"]),
            resource=str(a["resource"]),
            runtimes=_tuple(a.get("detect") or {}, "runtimes"),
            env=_tuple(a.get("detect") or {}, "env"),
            devices=_tuple(a.get("detect") or {}, "devices"),
            device_drivers=_tuple(a.get("detect") or {}, "device_drivers"),
            image_patterns=_tuple(a.get("detect") or {}, "images"),
            count_env=_tuple(a.get("count") or {}, "env"),
            count_flags=_tuple(a.get("count") or {}, "flags"),
            not_carried_env=_tuple(a, "not_carried_env"),
            node_selector=dict(a.get("nodeSelector") or {}),
            gmc_suffix=str(a.get("gmcSuffix") or ""),
        )
        for a in data.get("accelerators") or ()
    )
    return Policy(
        proxies=_tuple(data, "proxies"),
        secret_patterns=_tuple(data.get("secrets") or {}, "patterns"),
        secret_exceptions=_tuple(data.get("secrets") or {}, "exceptions"),
        token_variables=_tuple(data, "token_variables"),
        host_variables=_tuple(data, "host_variables"),
        endpoint_hints={str(k): tuple(v) if isinstance(v, list) else (str(v),)
                        for k, v in (data.get("endpoint_hints") or {}).items()},
        model_cache_sources=_tuple(data.get("model_cache") or {}, "sources"),
        model_cache_targets=_tuple(data.get("model_cache") or {}, "targets"),
        accelerators=accel,
        endpoint_variables={str(k): (tuple(v["components"]), str(v["url"]))
                            for k, v in (data.get("endpoint_variables") or {}).items()},
        overlay_names=_overlay_names(data.get("overlay_names") or {}),
        instance_suffixes=_tuple(data.get("instance_names") or {}, "drop_suffixes"),
        address_words=tuple(str(w).upper() for w in data.get("address_words") or ()),
        file=file,
    )


def _overlay_names(data: dict) -> OverlayNames:
    return OverlayNames(
        platforms={str(k): str(v) for k, v in (data.get("platforms") or {}).items()},
        prefix_words=_tuple(data, "prefix_words"),
        renamed_words={str(k): str(v) for k, v in (data.get("renamed_words") or {}).items()},
        engines=tuple((str(e["component"]), str(e.get("word") or "")) for e in data.get("engines") or ()),
        platform_engines={str(k): str(v) for k, v in (data.get("platform_engines") or {}).items()},
    )


def _read(text: str, name: str) -> dict:
    # Every command reads the 44 built-in rule files, and parsing their YAML is most of that:
    # what a text parses to is kept between processes (util/cache.py).
    data = cache.parsed("rules", text, lambda t: _parse(t, name))
    if not isinstance(data, dict):
        raise InputError("a mapping rule file must be a YAML mapping", file=name)
    return data


def _parse(text: str, name: str) -> Any:
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {' '.join(str(exc).split())}", file=name) from None


def load_rules(extra_dirs: list[Path] | tuple[Path, ...] = ()) -> RuleSet:
    """Built-in rules, then each extra directory's; a later rule for the same component wins.

    Read once per process and set of directories (a migration converts hundreds of files)."""
    return _load_rules(tuple(Path(d).resolve() for d in extra_dirs))


@lru_cache(maxsize=8)
def _load_rules(extra_dirs: tuple[Path, ...]) -> RuleSet:
    sources: list[tuple[str, str]] = []
    root = resources.files(BUILTIN)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            sources.append((f"mappings/{entry.name}", entry.read_text(encoding="utf-8")))
    for d in extra_dirs:
        if not Path(d).is_dir():
            raise InputError("mapping rule directory not found", file=d)
        for p in sorted(Path(d).glob("*.yaml")):
            sources.append((str(p), p.read_text(encoding="utf-8")))
    rules: dict[str, Rule] = {}
    policy: Policy | None = None
    for name, text in sources:
        data = _read(text, name)
        if Path(name).name.startswith("_"):
            policy = _policy(data, name)
            continue
        try:
            rule = _rule(data, name)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed mapping rule ({exc})", file=name) from None
        rules[rule.component] = rule
    if policy is None:
        raise InputError("no _policy.yaml among the mapping rules", file=BUILTIN)
    return RuleSet(rules=tuple(sorted(rules.values(), key=lambda r: r.component)), policy=policy)
