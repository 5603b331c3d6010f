"""compose2helm benchmark: the numbers behind the README's performance claims.

    python benchmarks/run.py [TREE] [--json results.json] [--runs 5] [--migrate-runs 3] [--scale-runs 2]

Times, on this machine:
  1. `compose2helm migrate TREE --jobs 2` as a whole process (parse, map, charts, lint,
     render, schema, verify, write): files/s, services/s, a per-stage breakdown, peak RSS
     (the fastest of --migrate-runs runs: the machine may be shared, noise only adds time);
  2. one `compose2helm convert` of the bundled ChatQnA gaudi file, whole process, median;
  3. converting synthetic compose files of 10, 100 and 1,000 services (how time grows; the
     fastest of --scale-runs runs each).
TREE defaults to ../shared/genaiexamples when present, else input-compose/. The package is
byte-compiled first, as an installed wheel is (see compile_package).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "compose2helm"]


def run(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(CLI + args, capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - start, proc


def bench_migrate(tree: Path, runs: int = 1) -> dict:
    all_seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            seconds, proc = run(["migrate", str(tree), "--out", out, "--jobs", "2", "--format", "json"])
        if proc.returncode not in (0, 1):
            raise SystemExit(f"migrate failed: {proc.stderr.strip()}")
        all_seconds.append(seconds)
        if seconds == min(all_seconds):
            best = proc
    seconds, proc = min(all_seconds), best
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = json.loads(proc.stdout)
    files = [f for f in report["files"] if f["status"] in ("verified", "unverified")]
    stages: dict[str, float] = {}
    for f in files:
        for stage, s in f.get("timings", {}).items():
            stages[stage] = stages.get(stage, 0.0) + s
    services = report["summary"]["services"]
    return {"tree": str(tree), "seconds": seconds, "files": len(report["files"]), "converted": len(files),
            "verified": report["summary"]["verified"], "services": services,
            "files_per_s": len(report["files"]) / seconds, "services_per_s": services / seconds,
            "stage_seconds_summed_over_workers": stages, "peak_rss_mb": rss_mb, "runs_seconds": all_seconds}


def compile_package() -> None:
    """Byte-compile the package that runs, as pip does when it installs a wheel. An editable
    install compiles its modules on first use, or on every start where PYTHONDONTWRITEBYTECODE
    is set: that is a property of the environment (about 30 ms here), not of the tool."""
    subprocess.run([sys.executable, "-c", "import compileall, os, compose2helm; "
                    "compileall.compile_dir(os.path.dirname(compose2helm.__file__), quiet=1)"], check=True)


def bench_convert(runs: int) -> dict:
    src = REPO / "examples/ChatQnA/docker/gaudi/compose.yaml"
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            seconds, proc = run(["convert", str(src), "--out", out, "-q"])
            if proc.returncode != 0:
                raise SystemExit(f"convert failed: {proc.stderr.strip()}")
            times.append(seconds)
    return {"runs": runs, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def synthetic(n: int, path: Path) -> Path:
    """n services: a chain of OPEA-like microservices, each calling the next by Service name."""
    lines = ["services:"]
    for i in range(n):
        lines += [f"  svc{i}:", f"    image: example/service{i % 7}:1.{i % 3}", f"    ports: [\"{10000 + i}:8080\"]",
                  "    environment:", f"      NEXT: http://svc{(i + 1) % n}:8080/v1/x",
                  f"      MODEL: ${{MODEL_{i % 5}:-m{i}}}", "      LOGFLAG: False",
                  "    healthcheck:", "      test: [\"CMD-SHELL\", \"curl -f http://localhost:8080/health || exit 1\"]",
                  "      interval: 10s"]
    f = path / f"Syn{n}" / "docker" / "xeon" / "compose.yaml"
    f.parent.mkdir(parents=True)
    f.write_text("\n".join(lines) + "\n")
    return f


def bench_scaling(runs: int = 1) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (10, 100, 1000):
            src = synthetic(n, Path(tmp) / "in")
            times = []
            for i in range(runs):
                seconds, proc = run(["convert", str(src), "--out", str(Path(tmp) / f"out{n}-{i}"), "-q"])
                if proc.returncode != 0:
                    raise SystemExit(f"synthetic {n} failed: {proc.stderr.strip()[:300]}")
                times.append(seconds)
            out[str(n)] = min(times)
    out["ratio_1000_to_100"] = out["1000"] / out["100"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = REPO.parent / "shared" / "genaiexamples"
    parser.add_argument("tree", nargs="?", default=str(shared if shared.is_dir() else REPO / "input-compose"))
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results.json"))
    parser.add_argument("--runs", type=int, default=5, help="convert runs (median)")
    parser.add_argument("--migrate-runs", type=int, default=3, help="migrate runs (fastest)")
    parser.add_argument("--scale-runs", type=int, default=2, help="runs per synthetic size (fastest)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    compile_package()
    results = {"migrate": bench_migrate(Path(args.tree), args.migrate_runs),
               "convert_chatqna_gaudi": bench_convert(args.runs), "scaling": bench_scaling(args.scale_runs),
               "machine": {"cpus": os.cpu_count(), "load_average_at_start": load}}
    m, c, s = results["migrate"], results["convert_chatqna_gaudi"], results["scaling"]
    print(f"{'measure':44} value")
    print(f"{'migrate ' + Path(m['tree']).name:44} {m['seconds']:.2f} s for {m['files']} files, {m['services']} services")
    print(f"{'  files/s, services/s':44} {m['files_per_s']:.1f}, {m['services_per_s']:.1f}")
    for stage, sec in sorted(m["stage_seconds_summed_over_workers"].items(), key=lambda kv: -kv[1]):
        print(f"{'  stage ' + stage:44} {sec:.2f} s (summed over workers)")
    print(f"{'  peak RSS (largest process)':44} {m['peak_rss_mb']:.0f} MB")
    print(f"{'convert ChatQnA gaudi, whole process':44} median {c['median_s']:.2f} s over {c['runs']} runs")
    for n in ("10", "100", "1000"):
        print(f"{'convert ' + n + ' synthetic services':44} {s[n]:.2f} s")
    print(f"{'  1000 / 100':44} {s['ratio_1000_to_100']:.1f}x")
    if load is not None:
        print(f"{'load average when started':44} {load:.2f} on {os.cpu_count()} CPUs")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
