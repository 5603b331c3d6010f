"""When the kubelet pulls a service's image: compose's pull_policy, else Kubernetes' own default.

Compose's default (`missing`) pulls an image once per host. Kubernetes' default for the tag
latest, or no tag, is to ask the registry at every container start, so that the nodes of a
cluster run the image the tag names now rather than whichever each pulled first; for any other
tag it is IfNotPresent, which is compose's. The chart leaves imagePullPolicy out unless compose
said one, so a tag set at install time gets the default that fits it.
"""
from __future__ import annotations

from typing import Any, Callable

from ..compose.model import Service
from .findings import POLICY_PULL

# compose's word -> the kubelet's. Kubernetes has no time-based refresh: daily, weekly and
# every_<duration> become Always (see pull_policy_value).
_WORDS = {"always": "Always", "refresh": "Always", "never": "Never",
          "missing": "IfNotPresent", "if_not_present": "IfNotPresent"}


def kubelet_default(tag: str, digest: str = "") -> str:
    """What the kubelet does without an imagePullPolicy (the API server's defaulting)."""
    return "Always" if not digest and tag in ("", "latest") else "IfNotPresent"


def compose_pull_policy(word: str | None) -> str | None:
    """The kubelet's policy for compose's pull_policy; None: compose leaves it to the tag (or builds)."""
    if word is None or word == "build":
        return None
    return _WORDS.get(word, "Always")


def pull_policy_value(s: Service, image: dict[str, str], note: Callable[..., Any]) -> None:
    """Sets image.pullPolicy when compose says one; notes each way Kubernetes differs from compose."""
    word = s.pull_policy
    policy = compose_pull_policy(word)
    if policy:
        image["pullPolicy"] = policy
        if word not in _WORDS:
            note("pull_policy", "changed", f"{word}: Always, the registry asked at every container start "
                 "(Kubernetes has no time-based refresh)", POLICY_PULL)
        return
    if word == "build":
        note("pull_policy", "dropped", "build: Kubernetes does not build images; the kubelet pulls the image as "
             "its default for the tag says", POLICY_PULL)
    if kubelet_default(image["tag"], image.get("digest", "")) == "Always":
        note("pull_policy", "changed", "tag latest: the kubelet asks the registry at every start (Kubernetes' "
             "default for latest, so that every node runs the same image); compose pulls it only when missing. "
             "image.pullPolicy: IfNotPresent for compose's way", POLICY_PULL)
