"""Pod options GenAIInfra's charts have, by GenAIInfra's names, as documented values (Val).

- `serviceAccount.*` and `global.sharedSAName`: the account the pods run as. As in GenAIInfra, an
  umbrella creates one account for the release and every chart's pods use it; a common chart
  installed alone uses the namespace's default account. Unlike GenAIInfra, neither the account nor
  the pods mount its API token unless `serviceAccount.automount` says so: nothing these images run
  talks to the Kubernetes API server, and a token nobody uses is only something to steal.
- `resources`: the chart's default requests come from its rule (`requests`, plan/requests.py).
- `modelDownload` and `global.offline`: GenAIInfra's engine charts download the model into the
  model volume with an init container before the server starts; here that is `modelDownload`,
  off by default (compose does not do it: the server downloads what it lacks itself).
  `global.offline` is GenAIInfra's air-gapped mode: the hub is never reached (HF_HUB_OFFLINE),
  nothing is downloaded, and the models must already be on a PVC or host path.
- `tdxEnabled` (GenAIInfra's TDX.md): the pods run in Intel TDX confidential VMs through
  Confidential Containers (Kata): a runtime class and two annotations, given in `tdx`.
- `evenly_distributed`: spread the replicas over the nodes (a topology spread constraint on
  the node name, as a preference).

templates/pod.tpl.j2 and serviceaccount.yaml.j2 render them.
"""
from __future__ import annotations

import dataclasses

from ..plan.rules import Rule
from .values import BOOLEAN, STRING, STRING_LIST, STRING_MAP, Val


DOWNLOADER_IMAGE = "huggingface/downloader:0.17.3"      # GenAIInfra's model-downloader image
TDX_RUNTIME_CLASS = "kata-qemu-tdx"                     # GenAIInfra commonlib's tdx values
TDX_ANNOTATIONS = {
    "io.containerd.cri.runtime-handler": TDX_RUNTIME_CLASS,
    "io.katacontainers.config.runtime.create_container_timeout": "1800",
}
UMBRELLA_ACCOUNT = "{{ .Release.Name }}"                # the release's one account, by default


def service_account_val(umbrella: bool = False) -> Val:
    if umbrella:
        doc = ("The release's ServiceAccount, named by global.sharedSAName, which the pods of every chart of the "
               "release use. It has no roles.")
        create_doc = "Create it; false to use an existing account named by global.sharedSAName."
    else:
        doc = ("The ServiceAccount of the pods. global.sharedSAName, when set (an umbrella sets it to its "
               "release's account), wins over name; without either, the namespace's default account.")
        create_doc = "Create an account for this chart (named by name, else <fullname>)."
    return Val("serviceAccount", doc=doc, children=(
        Val("create", umbrella, create_doc, BOOLEAN),
        Val("name", "", "Name of the account; empty: <fullname> when created, else default.", STRING),
        Val("annotations", {}, "Annotations of the account (e.g. a cloud identity binding).", STRING_MAP),
        Val("automount", False, "Mount the account's API token into the pods. Off: nothing these images run "
                                "talks to the Kubernetes API server (least privilege).", BOOLEAN),
    ))


def pod_vals(rule: Rule) -> list[Val]:
    """The pod options of a workload chart; the models modelDownload fetches come from the rule."""
    models = ["{{ .Values.%s }}" % m for m in rule.models]
    return [
        service_account_val(),
        Val("evenly_distributed", False, "Spread the pods over the nodes: a topology spread constraint on "
                                         "kubernetes.io/hostname (maxSkew 1, ScheduleAnyway: a preference).",
            BOOLEAN),
        Val("tdxEnabled", False, "Run the pods in Intel TDX confidential VMs (Confidential Containers): the "
                                 "runtime class and annotations of tdx. Set resources.limits.memory too: the "
                                 "VM gets that much memory, part of it for the container's filesystem.", BOOLEAN),
        Val("tdx", doc="The Confidential Containers runtime of tdxEnabled.", children=(
            Val("runtimeClassName", TDX_RUNTIME_CLASS, "RuntimeClass of the TDX VMs.", STRING),
            Val("annotations", dict(TDX_ANNOTATIONS), "Pod annotations under tdxEnabled (podAnnotations win).",
                STRING_MAP),
        )),
        Val("modelDownload", doc="Download the model into the model volume before the server starts (an init "
                                 "container), so that the server starts from the volume. Needs modelCachePath; "
                                 "never under global.offline.", children=(
            Val("enabled", False, "Run the download.", BOOLEAN),
            Val("image", DOWNLOADER_IMAGE, "Image with huggingface-cli.", STRING),
            Val("models", models, "Hugging Face model ids to download (through tpl); ids that are paths (/...) "
                                  "are skipped.", STRING_LIST),
        )),
    ]


POD_GLOBALS = (
    Val("sharedSAName", "", "One ServiceAccount for every chart of the release (through tpl): the pods use it "
                            "and only the chart whose serviceAccount.create is true creates it.", STRING),
    Val("offline", False, "Air-gapped: the Hugging Face libraries never reach the hub (HF_HUB_OFFLINE=1, "
                          "TRANSFORMERS_OFFLINE=1), modelDownload is off, and a chart with a model volume needs its "
                          "models already on global.modelUsePVC, global.modelUseHostPath or its volume "
                          "(rendering fails otherwise).", BOOLEAN),
)


def _with_globals(glob: Val, shared_sa: str) -> Val:
    extra = tuple(dataclasses.replace(v, default=shared_sa) if v.key == "sharedSAName" else v for v in POD_GLOBALS)
    known = {c.key for c in glob.children}
    return dataclasses.replace(glob, children=glob.children + tuple(v for v in extra if v.key not in known))


def with_pod_options(vals: list[Val], rule: Rule) -> list[Val]:
    """A workload chart's values with its pod options (after affinity), its rule's requests as the
    default resources, and the pod globals."""
    out = []
    for v in vals:
        if v.key == "resources" and rule.requests:
            v = dataclasses.replace(v, default={"requests": dict(rule.requests)},
                                    doc=v.doc + " The requests are the component's (GenAIInfra's); compose's "
                                                "deploy.resources replace them.")
        elif v.key == "global":
            v = _with_globals(v, "")
        out.append(v)
        if v.key == "affinity":
            out += pod_vals(rule)
        elif v.key == "waitFor":
            out += wait_vals(rule)
    return out


def wait_vals(rule: Rule) -> list[Val]:
    """GenAIInfra's retryTimeoutSeconds, where its chart of the component waits for a server before
    the container starts (the rule's settings marked wait: the env entries holding its address)."""
    names = sorted({name for ev in rule.env_values if ev.wait for name in ev.env})
    if not names:
        return []
    return [
        Val("retryTimeoutSeconds", None, "Wait before the container starts, at most this many seconds in all, "
                                         "for the servers at the addresses in waitForEnv and waitFor (the init "
                                         "container of waitFor; past the deadline it fails and the kubelet "
                                         "retries it), as GenAIInfra's init container does. Null: no deadline, "
                                         "and no wait for waitForEnv.",
            {"type": ["integer", "null"], "minimum": 1}, type_label="integer"),
        Val("waitForEnv", names, "Env entries holding the URL of a server this component needs (its port, "
                                 "else 80, or 443 for https): with retryTimeoutSeconds set, waited for as "
                                 "waitFor is; an entry that is not set is skipped.", STRING_LIST),
    ]


def umbrella_account(vals: list[Val]) -> list[Val]:
    """The umbrella creates the release's account: its serviceAccount (the megaservice's, if any)."""
    account = service_account_val(umbrella=True)
    if any(v.key == "serviceAccount" for v in vals):
        return [account if v.key == "serviceAccount" else v for v in vals]
    return vals + [account]


def umbrella_global(glob: Val) -> Val:
    return _with_globals(glob, UMBRELLA_ACCOUNT)
