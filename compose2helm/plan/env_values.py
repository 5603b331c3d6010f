"""Settings a component's chart takes by name and turns into env entries (rule field `env_values`).

GenAIInfra's charts read values such as `tgi.MAX_BATCH_SIZE` or `data-prep.DATAPREP_BACKEND` and
write them into the container's environment; those names are the interface its users know. A
rule lists them as data, with what each becomes:

    env_values:
      MAX_BATCH_SIZE: Largest batch the server forms.      # an env entry of its own name
      EMBEDDING_ENDPOINT:
        description: Address of the embedding engine.
        env: TEI_EMBEDDING_ENDPOINT                        # ... or of another name
        wait: true                                         # an address to wait for (retryTimeoutSeconds)
      OPENAI_API_KEY: {description: Key of the OpenAI-compatible endpoint., secret: true}
      DATAPREP_BACKEND:                                    # one of a few words, each meaning entries
        description: Vector database the service stores into.
        choices:
          MILVUS:
            set: {DATAPREP_COMPONENT_NAME: OPEA_DATAPREP_MILVUS}
            default: {MILVUS_HOST: "{{ .Release.Name }}-milvus"}   # only where env has no such entry
      CHATQNA_TYPE: {description: ..., examples: [chatqna], enum: [CHATQNA_FAQGEN]}   # megaservice of chatqna only
      externalLLM:                                         # an object: its fields, while `when` is true
        description: An LLM server outside the cluster.
        when: enabled
        examples:                                          # per umbrella: field -> the entry it sets
          chatqna: {LLM_SERVER_HOST: {env: LLM_SERVER_HOST_IP}, LLM_SERVER_PORT: {env: LLM_SERVER_PORT, default: "80"}}

The chart's ConfigMap (the Secret for `secret`) gets the entries of a value only when it is set
(not null, not empty) and nothing the chart runs uses it already: a value the overlay's env, args
or command name (`{{ .Values.MAX_INPUT_LENGTH }}`, a compose variable of the same name) takes
effect there, so one value never becomes two knobs. Every value is null by default, so charts
render as before until someone sets one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Choice:
    """What one word of a choice value means: entries it sets, entries it fills in where env has none."""

    word: str
    set: tuple[tuple[str, str], ...] = ()
    default: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Field:
    """One field of an object setting: the env entry it sets (the Secret's when secret), and the
    text that entry gets when the field is left empty (None: no entry)."""

    name: str
    env: str
    default: str | None = None
    secret: bool = False
    required: bool = False     # the switch on without it: the chart refuses to render, naming it


@dataclass(frozen=True)
class EnvValue:
    key: str
    description: str = ""
    env: tuple[str, ...] = ()            # plain value: the entries that get its text (its own name by default)
    choices: tuple[Choice, ...] = ()     # a choice value: its words and what each sets
    enum: tuple[str, ...] = ()           # plain value: the words it may hold (any scalar when empty)
    secret: bool = False                 # its entries go into the Secret
    examples: tuple[str, ...] = ()       # megaservice rule: the umbrella charts it applies to (all when empty)
    fields: tuple[Field, ...] = ()       # an object setting: its fields, applied while its `when` field is true
    when: str = ""
    wait: bool = False                   # an address the component needs before it starts (retryTimeoutSeconds)

    def applies_to(self, chart: str) -> bool:
        return not self.examples or chart in self.examples

    def words(self) -> tuple[str, ...]:
        return tuple(c.word for c in self.choices) or self.enum

    def doc(self) -> str:
        """The description the chart's values.yaml and README give it."""
        if self.fields:
            sets = ", ".join(f"{f.name} -> {f.env}" + (f" (default {f.default})" if f.default is not None else "")
                             + (" (required)" if f.required else "") for f in self.fields)
            return f"{self.description} While {self.when} is true its fields set env entries: {sets}.".strip()
        if self.choices:
            sets = "; ".join(f"{c.word}: " + ", ".join(f"{k}={v}" for k, v in c.set + c.default)
                             for c in self.choices)
            how = f" Setting it writes env entries ({sets}); an address env already holds is kept."
        else:
            names = ", ".join(self.env)
            how = f" Setting it adds the env entry {names}" + (" (in the Secret)" if self.secret else "") + \
                  ", unless env, args or command already use this value."
        return (self.description + how + " Null: not set.").strip()


def _pairs(data: Any, where: str) -> tuple[tuple[str, str], ...]:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise ValueError(f"{where} must map env names to texts")
    return tuple((str(k), str(v)) for k, v in data.items())


def _names(data: Any, key: str) -> tuple[str, ...]:
    if data is None:
        return (key,)
    return tuple(str(n) for n in data) if isinstance(data, list) else (str(data),)


def parse_env_values(data: Any, named: dict[str, str]) -> tuple[EnvValue, ...]:
    """The rule's env_values; named maps the rule's named values (`values:`) to their defaults.

    A named value with a default of its own cannot be one: its default would count as set and add
    an entry where compose had none."""
    if not data:
        return ()
    if not isinstance(data, dict):
        raise ValueError("env_values must be a mapping of value names")
    out: list[EnvValue] = []
    for key, spec in data.items():
        key = str(key)
        if isinstance(spec, dict) and isinstance(spec.get("examples"), dict):
            out.extend(_object_setting(key, spec))
            continue
        if named.get(key):
            raise ValueError(f"env_values.{key} is a named value with default {named[key]!r}; only a value "
                             "that is empty by default can become an env entry when set")
        if not isinstance(spec, dict):
            spec = {"description": spec}
        choices = tuple(Choice(str(word), _pairs((how or {}).get("set"), f"env_values.{key}.choices.{word}.set"),
                               _pairs((how or {}).get("default"), f"env_values.{key}.choices.{word}.default"))
                        for word, how in (spec.get("choices") or {}).items())
        out.append(EnvValue(
            key=key,
            description=str(spec.get("description") or ""),
            env=() if choices else _names(spec.get("env"), key),
            choices=choices,
            enum=tuple(str(w) for w in spec.get("enum") or ()),
            secret=bool(spec.get("secret", False)),
            examples=tuple(str(e) for e in spec.get("examples") or ()),
            wait=bool(spec.get("wait", False)),
        ))
    return tuple(out)


def _object_setting(key: str, spec: dict) -> list[EnvValue]:
    """An object setting, one EnvValue per umbrella: the fields' entries differ between examples."""
    when = str(spec.get("when") or "enabled")
    out = []
    for example, fields in spec["examples"].items():
        if not isinstance(fields, dict):
            raise ValueError(f"env_values.{key}.examples.{example} must map fields to {{env, default, secret}}")
        out.append(EnvValue(key=key, description=str(spec.get("description") or ""), examples=(str(example),),
                            when=when, fields=tuple(
                                Field(str(name), str(f["env"]), None if f.get("default") is None else str(f["default"]),
                                      bool(f.get("secret", False)), bool(f.get("required", False)))
                                for name, f in fields.items())))
    return out


def env_table(values: tuple[EnvValue, ...] | list[EnvValue]) -> str:
    """The JSON the chart's helper reads: {"items": [{key, env, secret, choices}]}, choice values
    first so that a plain value (an explicit endpoint) wins over what a choice implies."""
    items = []
    for v in sorted(values, key=lambda v: not v.choices):
        item: dict[str, Any] = {"key": v.key, "secret": v.secret}
        if v.fields:
            item["when"] = v.when
            item["fields"] = {f.name: {"env": f.env, "default": f.default, "secret": f.secret, "required": f.required}
                              for f in v.fields}
        elif v.choices:
            item["choices"] = {c.word: {"set": dict(c.set), "default": dict(c.default)} for c in v.choices}
        else:
            item["env"] = list(v.env)
        items.append(item)
    return json.dumps({"items": items}, ensure_ascii=False, separators=(",", ":"))
