"""Parity of our chatqna manifests with GenAIInfra's chatqna umbrella (issue 15).

    .venv/bin/python benchmarks/genaiinfra_parity.py [--reference ../shared/reference/genaiinfra]
        [--drift benchmarks/genaiinfra_parity.yaml] [--markdown]

For each values file the drift data names (gaudi, cpu): GenAIInfra's umbrella rendered with its
`<name>-values.yaml` by the embedded Helm engine, against our committed
`manifests/ChatQnA/<name>/chatqna.yaml`, compared per component on presence, image, accelerator
resources and endpoint wiring (compose2helm/verify/parity.py). Each difference is printed as
documented drift (with its reason) or UNDOCUMENTED; a documented entry no difference matched is
STALE; an entry whose compose evidence does not hold is printed too. Exits 1 when any of those
three occurs, 0 otherwise. --markdown prints the README table of the documented drift instead.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from compose2helm.verify.parity import drift_markdown, parity

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference" / "genaiinfra")
    ap.add_argument("--drift", type=Path, default=REPO / "benchmarks" / "genaiinfra_parity.yaml")
    ap.add_argument("--markdown", action="store_true", help="print the README table of the documented drift")
    args = ap.parse_args(argv)
    drift = yaml.safe_load(args.drift.read_text(encoding="utf-8"))
    if args.markdown:
        sys.stdout.write(drift_markdown(drift["differences"]))
        return 0
    if not (args.reference / str(drift["reference"])).is_dir():
        print(f"{args.reference}: GenAIInfra's reference charts are not there", file=sys.stderr)
        return 2
    results, problems = parity(drift, REPO, args.reference)
    failed = bool(problems)
    for r in results:
        print(f"{drift['chart']} {r.values}-values.yaml: {len(r.differences)} differences, "
              f"{len(r.verdict.documented)} documented drift, {len(r.verdict.undocumented)} undocumented, "
              f"{len(r.verdict.stale)} stale entries")
        for d, entry in r.verdict.documented:
            print(f"  drift         {d.line()}\n                ({' '.join(str(entry['reason']).split())})")
        for d in r.verdict.undocumented:
            print(f"  UNDOCUMENTED  {d.line()}")
        for e in r.verdict.stale:
            print(f"  STALE         {e['component']}: {e['aspect']}: ours {e.get('ours')}, GenAIInfra {e.get('theirs')}")
        failed = failed or bool(r.verdict.undocumented or r.verdict.stale)
    for p in problems:
        print(f"  EVIDENCE      {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
