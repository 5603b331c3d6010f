"""GenAIExamples' GMC files of one overlay (--gmc): the GMConnector resource and each component's
manifest, rendered from its common chart with the values the GMC router gives it."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..helm.documents import manifest_text
from ..helm.render import render_chart
from ..plan.plan import ExamplePlan
from ..plan.rules import RuleSet
from .output import Staging


def write_gmc(plan: ExamplePlan, rules: RuleSet, stage: Staging, release: str) -> list[str]:
    """manifests/<Example>/<overlay>/gmc/: the GMConnector, then one manifest per component."""
    from ..chart import gmc
    from ..yamlout import dump
    base = f"manifests/{plan.example}/{plan.overlay_name}/gmc"
    written = [f"{base}/{plan.chart}_{plan.overlay_name}.yaml"]
    stage.write(written[0], dump(gmc.connector(plan, rules.policy)))
    for inst in plan.components():
        docs = render_chart(stage.path(f"helm-charts/common/{inst.component}"), gmc.component_values(inst),
                            gmc.service_name(inst))
        rel = f"{base}/{gmc.service_name(inst)}.yaml"
        stage.write(rel, manifest_text(docs))
        written.append(rel)
    return written


def check_gmc(stage: Staging, rel: str, crd: Path) -> list[str]:
    """The problems of a written GMConnector against the GMConnector CRD's schema."""
    from ..chart import gmc
    return gmc.validate(yaml.safe_load(stage.files[rel]), gmc.crd_schema(crd))
