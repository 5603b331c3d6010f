"""Kubernetes names."""
import hashlib
import re


_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns_label(text: str) -> str:
    """A DNS-1123 label made from text: lower case, [a-z0-9-], no leading/trailing dash."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    return re.sub(r"-{2,}", "-", label).strip("-")


def shortened(name: str, room: int) -> str:
    """name cut to at most room characters: its start, a dash and 6 characters of its SHA-256, so
    that two long names with the same start stay apart and a rerun gives the same name."""
    if len(name) <= room:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return name[: max(room - 7, 1)].rstrip("-") + "-" + digest


def is_dns_label(text: str) -> bool:
    return len(text) <= 63 and bool(_DNS.match(text))
