"""Kubernetes names."""
import re


_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns_label(text: str) -> str:
    """A DNS-1123 label made from text: lower case, [a-z0-9-], no leading/trailing dash."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    return re.sub(r"-{2,}", "-", label).strip("-")


def is_dns_label(text: str) -> bool:
    return len(text) <= 63 and bool(_DNS.match(text))
