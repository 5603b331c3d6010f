"""Time compose2helm.verify.k8scheck.check_all over the generated ChatQnA/gaudi manifest.

Run in a fresh process: the first call includes importing jsonschema and reading the schemas.
    python benchmarks/k8scheck_timing.py [manifest.yaml] [kube_version]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

from compose2helm.verify.k8scheck import check_all


RUNS = 20
DEFAULT = Path(__file__).resolve().parents[1] / "manifests" / "ChatQnA" / "gaudi" / "chatqna.yaml"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    version = sys.argv[2] if len(sys.argv) > 2 else None
    objects = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]

    start = time.perf_counter()
    problems = check_all(objects, version)     # cold: imports, schema load, validator builds
    first = (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    for _ in range(RUNS):
        check_all(objects, version)
    steady = (time.perf_counter() - start) * 1000 / RUNS

    errors = sum(p.severity == "error" for p in problems)
    print(f"{path}: {len(objects)} objects, {errors} errors, {len(problems) - errors} warnings")
    print(f"first call (cold): {first:.1f} ms")
    print(f"steady state: {steady:.2f} ms per run ({steady / len(objects):.3f} ms per object, {RUNS} runs)")


if __name__ == "__main__":
    main()
