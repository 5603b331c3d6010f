"""compose2helm benchmark: the numbers behind the README's performance claims, as ratios.

    python benchmarks/run.py [TREE] [--json results.json] [--runs 5] [--migrate-runs 3] [--scale-runs 2]

Absolute seconds differ about twofold between machines of one class (and on one shared machine
from minute to minute), so each figure is measured beside a reference in the same run:
  1. one `compose2helm convert` of the bundled ChatQnA gaudi file (old layout), whole process,
     against the import floor: a fresh `python -c "import yaml, jinja2, typer, rich, deepdiff,
     helm_python"`, the libraries a conversion stands on. --runs of each, interleaved (floor,
     convert, floor, ...) so that the machine's load falls on both alike; medians compared;
  2. `compose2helm migrate TREE --jobs 2` as a whole process (parse, map, charts, lint, render,
     schema, verify, write) against a peer, helmgen 0.3.0 (a Python converter that only
     generates charts: no render, no lint, no checks), run once per compose file of the same
     files, one process each, as it is used; --migrate-runs of each, interleaved, the fastest of
     each compared (noise only adds time). helmgen is installed into its own virtualenv,
     benchmarks/.peer-venv, never into compose2helm's. Also: files/s, services/s, a per-stage
     breakdown, peak RSS;
  Each of 1. and 2. is measured warm (compose2helm's cache filled by converting the same files
     once, in a directory of the benchmark's own: nothing is generated, linted or rendered
     again, the verification runs) and cold (no cache); 1. also "new": the first conversion of
     the file after another platform of its example (its common charts and lints kept);
  3. converting synthetic compose files of 10, 100 and 1,000 services (how time grows; the
     fastest of --scale-runs runs each).
TREE defaults to ../shared/genaiexamples when present, else input-compose/. The package is
byte-compiled first, as an installed wheel is (see compile_package).
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "compose2helm"]
FLOOR = [sys.executable, "-c", "import yaml, jinja2, typer, rich, deepdiff, helm_python"]
PEER = "helmgen==0.3.0"
PEER_VENV = REPO / "benchmarks" / ".peer-venv"
CONVERT_SOURCE = REPO / "examples/ChatQnA/docker/gaudi/compose.yaml"


def timed(cmd: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - start, proc


# compose2helm keeps what the same input gives every time between processes (util/cache.py). The
# benchmark never reads the user's cache: "warm" runs use one of its own, filled by an untimed
# run of the same files first (what converting them again gets), "cold" runs keep nothing
# (COMPOSE2HELM_NO_CACHE=1: a fresh machine, e.g. CI's drift check).
CACHE = tempfile.mkdtemp(prefix="c2h-bench-cache-")
atexit.register(shutil.rmtree, CACHE, True)
ENV = {"warm": dict(os.environ, XDG_CACHE_HOME=CACHE), "cold": dict(os.environ, COMPOSE2HELM_NO_CACHE="1")}
ENV["warm"].pop("COMPOSE2HELM_NO_CACHE", None)


def run(args: list[str], cache: str = "cold") -> tuple[float, subprocess.CompletedProcess]:
    return timed(CLI + args, cwd=REPO, env=ENV[cache])


def compile_package() -> None:
    """Byte-compile the package that runs, as pip does when it installs a wheel. An editable
    install compiles its modules on first use, or on every start where PYTHONDONTWRITEBYTECODE
    is set: that is a property of the environment (about 30 ms here), not of the tool."""
    subprocess.run([sys.executable, "-c", "import compileall, os, compose2helm; "
                    "compileall.compile_dir(os.path.dirname(compose2helm.__file__), quiet=1)"], check=True)


def peer() -> Path:
    """The peer's command, installed into benchmarks/.peer-venv on first use (pip, from PyPI)."""
    exe = PEER_VENV / "bin" / "helmgen"
    python = PEER_VENV / "bin" / "python"
    if not exe.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PEER],
                       check=True)
    # compiled as compose2helm is, so that neither pays for compiling
    subprocess.run([str(python), "-c", "import compileall, os, helmgen; "
                    "compileall.compile_dir(os.path.dirname(helmgen.__file__), quiet=1)"], check=True)
    return exe


def _convert_once(cache: str, source: Path = CONVERT_SOURCE, env: dict | None = None) -> float:
    with tempfile.TemporaryDirectory() as out:
        seconds, proc = timed(CLI + ["convert", str(source), "--out", out, "-q"], cwd=REPO, env=env or ENV[cache])
    if proc.returncode != 0:
        raise SystemExit(f"convert failed: {proc.stderr.strip()}")
    return seconds


# "new": the file converted for the first time, after another platform of its example (a cache
# with that conversion's charts, lints and renderings, copied afresh for each run): its common
# charts and their lints are kept, its umbrella, overlay and renderings are new.
OTHER_SOURCE = REPO / "examples/ChatQnA/docker/xeon/compose.yaml"


def bench_convert(runs: int) -> dict:
    """Convert (warm, new, cold) and the import floor, interleaved; medians and their ratios."""
    _convert_once("warm")   # fills the benchmark's cache
    other = tempfile.mkdtemp(prefix="c2h-bench-other-")
    atexit.register(shutil.rmtree, other, True)
    _convert_once("warm", OTHER_SOURCE, dict(ENV["warm"], XDG_CACHE_HOME=other))
    floor, convert, new, cold = [], [], [], []
    for _ in range(runs):
        seconds, proc = timed(FLOOR, cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(f"the import floor failed: {proc.stderr.strip()}")
        floor.append(seconds)
        convert.append(_convert_once("warm"))
        with tempfile.TemporaryDirectory() as copy:
            shutil.copytree(other, copy, dirs_exist_ok=True)
            new.append(_convert_once("warm", env=dict(ENV["warm"], XDG_CACHE_HOME=copy)))
        cold.append(_convert_once("cold"))
    f, c, n, k = (statistics.median(x) for x in (floor, convert, new, cold))
    return {"runs": runs, "median_s": c, "min_s": min(convert), "max_s": max(convert), "floor_median_s": f,
            "floor_runs_s": floor, "convert_runs_s": convert, "ratio_to_floor": c / f,
            "new_median_s": n, "new_runs_s": new, "new_ratio_to_floor": n / f,
            "cold_median_s": k, "cold_runs_s": cold, "cold_ratio_to_floor": k / f}


def run_peer(exe: Path, files: list[Path]) -> tuple[float, int]:
    """The peer over the files, one process each, in turn: seconds, and how many it refused."""
    failed = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for i, f in enumerate(files):
            proc = subprocess.run([str(exe), str(f), "-o", os.path.join(out, str(i))], capture_output=True)
            failed += proc.returncode != 0
    return time.perf_counter() - start, failed


def bench_migrate(tree: Path, runs: int = 1) -> dict:
    """migrate --jobs 2 and the peer over the same files, interleaved; the fastest of each."""
    exe = peer()
    migrate_s, cold_s, peer_s, failed, files, best = [], [], [], 0, None, None

    def migrate(cache: str) -> tuple[float, subprocess.CompletedProcess]:
        with tempfile.TemporaryDirectory() as out:
            seconds, proc = run(["migrate", str(tree), "--out", out, "--jobs", "2", "--format", "json"], cache)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"migrate failed: {proc.stderr.strip()}")
        return seconds, proc

    migrate("warm")   # fills the benchmark's cache
    for _ in range(runs):
        seconds, proc = migrate("warm")
        migrate_s.append(seconds)
        if seconds == min(migrate_s):
            best = proc
        if files is None:   # the files migrate found, as it names them
            files = [tree / f["file"] for f in json.loads(proc.stdout)["files"]]
        seconds, failed = run_peer(exe, files)
        peer_s.append(seconds)
        cold_s.append(migrate("cold")[0])
    seconds, proc = min(migrate_s), best
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = json.loads(proc.stdout)
    converted = [f for f in report["files"] if f["status"] in ("verified", "unverified")]
    stages: dict[str, float] = {}
    for f in converted:
        for stage, s in f.get("timings", {}).items():
            stages[stage] = stages.get(stage, 0.0) + s
    services = report["summary"]["services"]
    return {"tree": str(tree), "seconds": seconds, "files": len(report["files"]), "converted": len(converted),
            "verified": report["summary"]["verified"], "services": services,
            "files_per_s": len(report["files"]) / seconds, "services_per_s": services / seconds,
            "stage_seconds_summed_over_workers": stages, "peak_rss_mb": rss_mb, "runs_seconds": migrate_s,
            "peer": PEER, "peer_seconds": min(peer_s), "peer_runs_seconds": peer_s, "peer_files": len(files),
            "peer_refused": failed, "ratio_to_peer": seconds / min(peer_s),
            "cold_seconds": min(cold_s), "cold_runs_seconds": cold_s, "cold_ratio_to_peer": min(cold_s) / min(peer_s)}


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


def machine() -> dict:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model or platform.processor(), "system": platform.platform(),
            "python": platform.python_version()}


def load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = REPO.parent / "shared" / "genaiexamples"
    parser.add_argument("tree", nargs="?", default=str(shared if shared.is_dir() else REPO / "input-compose"))
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results.json"))
    parser.add_argument("--runs", type=int, default=5, help="convert and floor runs (medians)")
    parser.add_argument("--migrate-runs", type=int, default=3, help="migrate and peer runs (fastest)")
    parser.add_argument("--scale-runs", type=int, default=2, help="runs per synthetic size (fastest)")
    args = parser.parse_args()
    started = load()
    compile_package()
    results = {"machine": {**machine(), "load_average_at_start": started},
               "convert_chatqna_gaudi": bench_convert(args.runs),
               "migrate": bench_migrate(Path(args.tree), args.migrate_runs),
               "scaling": bench_scaling(args.scale_runs)}
    results["machine"]["load_average_at_end"] = load()
    m, c, s, mach = results["migrate"], results["convert_chatqna_gaudi"], results["scaling"], results["machine"]
    print(f"{'measure':44} value")
    print(f"{'import floor (yaml jinja2 typer rich ...)':44} median {c['floor_median_s']:.2f} s over {c['runs']} runs")
    print(f"{'convert ChatQnA gaudi, whole process':44} median {c['median_s']:.2f} s = "
          f"{c['ratio_to_floor']:.2f}x the floor (target 2.0x)")
    print(f"{'  first time, after its xeon file (new)':44} median {c['new_median_s']:.2f} s = "
          f"{c['new_ratio_to_floor']:.2f}x the floor")
    print(f"{'  the same with no cache (cold)':44} median {c['cold_median_s']:.2f} s = "
          f"{c['cold_ratio_to_floor']:.2f}x the floor")
    print(f"{PEER + ', one process per file':44} {m['peer_seconds']:.2f} s for {m['peer_files']} files "
          f"(fastest of {len(m['peer_runs_seconds'])})")
    print(f"{'migrate ' + Path(m['tree']).name + ' --jobs 2':44} {m['seconds']:.2f} s = "
          f"{m['ratio_to_peer']:.2f}x the peer (target 0.5x)")
    print(f"{'  the same with no cache (cold)':44} {m['cold_seconds']:.2f} s = {m['cold_ratio_to_peer']:.2f}x the peer")
    print(f"{'  files, services; files/s, services/s':44} {m['files']}, {m['services']}; "
          f"{m['files_per_s']:.1f}, {m['services_per_s']:.1f}")
    for stage, sec in sorted(m["stage_seconds_summed_over_workers"].items(), key=lambda kv: -kv[1]):
        print(f"{'  stage ' + stage:44} {sec:.2f} s (summed over workers)")
    print(f"{'  peak RSS (largest process)':44} {m['peak_rss_mb']:.0f} MB (target 300 MB)")
    for n in ("10", "100", "1000"):
        print(f"{'convert ' + n + ' synthetic services':44} {s[n]:.2f} s")
    print(f"{'  1000 / 100':44} {s['ratio_1000_to_100']:.1f}x (target 11x)")
    loads = ", ".join(f"{x:.2f}" for x in (started, mach["load_average_at_end"]) if x is not None)
    print(f"{'machine':44} {mach['cpus']} x {mach['cpu_model']}, load average {loads} (start, end)")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
