"""Resource requests and model downloads as rule data (mappings/<component>.yaml).

`requests` is what the component's chart asks the scheduler for by default; `accelerator_requests`
what it asks for instead where the service runs on a device-plugin resource. Both hold GenAIInfra's
facts (its charts and values files), and only where there is one. Compose's own resources win: a
`deploy.resources` reservation is the request, and a limit without a reservation leaves the
request to Kubernetes (the limit), as the conversion did before rules had requests.
"""
from __future__ import annotations

import re
from typing import Any


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
RESOURCES = ("cpu", "memory")


def parse_requests(data: Any, where: str) -> dict[str, str]:
    """{cpu, memory} as Kubernetes quantities: a typo fails when the rules load, not at install."""
    items = list((data or {}).items()) if isinstance(data, (dict, type(None))) else [(where, data)]
    bad = [f"{k}: {v!r}" for k, v in items if k not in RESOURCES or not _QUANTITY.match(str(v))]
    if bad:
        raise ValueError(f"{where} takes cpu and memory quantities, not {', '.join(bad)}")
    return {str(k): str(v) for k, v in items}


def parse_models(data: Any, named: set[str]) -> tuple[str, ...]:
    """The named values holding model ids (LLM_MODEL_ID, ...): each must be a value of the rule."""
    models = tuple(str(m) for m in ([data] if isinstance(data, str) else data or ()))
    unknown = sorted(set(models) - named)
    if unknown:
        raise ValueError(f"models names {', '.join(unknown)}, not values of the rule")
    return models


def overlay_requests(chart_requests: dict[str, str], accelerated: dict[str, str],
                     limits: dict[str, Any], reservations: dict[str, Any]) -> dict[str, Any]:
    """resources.requests an overlay sets on top of the chart's default requests.

    reservations (compose's, already Kubernetes quantities) are the requests; a resource compose
    limits without reserving gets null, so that the chart's default request (which may exceed the
    limit) is removed and Kubernetes takes the limit, as for a chart without defaults; the
    accelerator's requests (accelerated) fill in the rest."""
    out: dict[str, Any] = {}
    for r in RESOURCES:
        if reservations.get(r):
            out[r] = reservations[r]
        elif limits.get(r):
            if r in chart_requests:
                out[r] = None
        elif r in accelerated:
            out[r] = accelerated[r]
    return out
