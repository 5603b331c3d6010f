"""checkov's Kubernetes checks over the rendered manifests of the current examples (issue 18).

    python benchmarks/checkov.py [DIR ...] [--json]

Without DIR it scans the committed manifests of the set issue 18 measures:
manifests/{ChatQnA,CodeGen,CodeTrans,DocSum,AudioQnA}/{gaudi,cpu}/ (those that exist). Give the
`manifests/` folder of a conversion in a tmp dir (`compose2helm migrate input-compose --out /tmp/x`)
as DIR to measure a change before it is committed: each DIR that holds `<Example>/<overlay>/`
folders is narrowed to the same set; any other DIR is scanned as it is.

checkov is installed, on first use, into its own virtualenv `benchmarks/.checkov-venv`
(git-ignored) from PyPI, never into compose2helm's: it pins many libraries of its own. Prints the
pass rate, then each failing check ID with how many objects fail it and its title.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / "benchmarks" / ".checkov-venv"
CHECKOV_SPEC = "checkov>=3.2,<4"
EXAMPLES = ("ChatQnA", "CodeGen", "CodeTrans", "DocSum", "AudioQnA")
OVERLAYS = ("gaudi", "cpu")
# The checks issue 18 names: none of them may fail.
REQUIRED = ("CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_10", "CKV_K8S_12", "CKV_K8S_21",
            "CKV_K8S_29", "CKV_K8S_38", "CKV2_K8S_6")


def checkov_bin() -> Path:
    """checkov in benchmarks/.checkov-venv, created and filled on first use."""
    exe = VENV / "bin" / "checkov"
    if not exe.exists():
        print(f"installing {CHECKOV_SPEC} into {VENV.relative_to(REPO)} ...", file=sys.stderr)
        venv.create(VENV, with_pip=True)
        subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", CHECKOV_SPEC],
                       check=True)
    return exe


def scan_dirs(roots: list[Path]) -> list[Path]:
    """The folders to scan: each root narrowed to the issue's set when it is a manifests tree."""
    dirs: list[Path] = []
    for root in roots:
        picked = [root / ex / ov for ex in EXAMPLES for ov in OVERLAYS if (root / ex / ov).is_dir()]
        dirs.extend(picked or [root])
    return dirs


def run_checkov(directory: Path) -> list[dict]:
    """checkov's JSON results of one folder, as a list of per-framework reports."""
    proc = subprocess.run(
        [str(checkov_bin()), "-d", str(directory), "--framework", "kubernetes", "-o", "json",
         "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True)
    # checkov exits 1 when a check fails; anything but JSON on stdout is a real failure.
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"checkov failed on {directory} (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return data if isinstance(data, list) else [data]


def tally(dirs: list[Path]) -> tuple[int, int, Counter, dict[str, str]]:
    passed = failed = 0
    failing: Counter = Counter()
    titles: dict[str, str] = {}
    for d in dirs:
        for report in run_checkov(d):
            # --quiet leaves the passed checks out of the results; the summary still counts them
            summary = report.get("summary", {})
            passed += int(summary.get("passed", 0))
            failed += int(summary.get("failed", 0))
            for check in report.get("results", {}).get("failed_checks", []):
                failing[check["check_id"]] += 1
                titles[check["check_id"]] = check.get("check_name", "")
    return passed, failed, failing, titles


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    roots = [Path(a) for a in argv if a != "--json"] or [REPO / "manifests"]
    dirs = scan_dirs(roots)
    passed, failed, failing, titles = tally(dirs)
    total = passed + failed
    rate = 100.0 * passed / total if total else 0.0
    required_failing = sorted(c for c in REQUIRED if failing.get(c))
    if as_json:
        print(json.dumps({"folders": [str(d) for d in dirs], "passed": passed, "failed": failed,
                          "pass_rate": round(rate, 2), "failing": dict(sorted(failing.items())),
                          "required_failing": required_failing}, indent=2))
    else:
        print(f"checkov on {len(dirs)} folders: {passed} of {total} checks pass ({rate:.1f}%)")
        for check_id, count in sorted(failing.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"{count:5d}  {check_id:12s} {titles[check_id]}")
        print("issue 18's checks failing: " + (", ".join(required_failing) or "none"))
    return 0 if rate >= 95.0 and not required_failing else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
