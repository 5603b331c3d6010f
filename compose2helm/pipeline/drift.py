"""`compose2helm check`: regenerate everything from the compose files and compare it with the
committed helm-charts/ and manifests/. Deterministic output is what makes this possible."""
from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .migrate import MigrateReport, migrate
from .output import generated_files


@dataclass
class DriftReport:
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    diff: str = ""
    migration: MigrateReport | None = None

    @property
    def ok(self) -> bool:
        return not (self.stale or self.missing or self.extra)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "stale": self.stale, "missing": self.missing, "extra": self.extra,
                "diff": self.diff,
                "migration": self.migration.summary() if self.migration else None}


def check(root: Path = Path("input-compose"), out: Path = Path("."), *, jobs: int = 1,
          **options: Any) -> DriftReport:
    with tempfile.TemporaryDirectory(prefix="c2h-check-") as tmp:
        migration = migrate(root, Path(tmp), jobs=jobs, **options)
        fresh = generated_files(Path(tmp))
        committed = generated_files(Path(out))
        report = DriftReport(migration=migration)
        diffs = []
        for rel in sorted(fresh):
            if rel not in committed:
                report.missing.append(rel)
                continue
            new, old = fresh[rel].read_bytes(), committed[rel].read_bytes()
            if new != old:
                report.stale.append(rel)
                diffs.extend(difflib.unified_diff(
                    old.decode("utf-8", "replace").splitlines(keepends=True),
                    new.decode("utf-8", "replace").splitlines(keepends=True),
                    fromfile=f"committed/{rel}", tofile=f"regenerated/{rel}"))
        report.extra = sorted(rel for rel in committed if rel not in fresh)
        report.diff = "".join(d if d.endswith("\n") else d + "\n" for d in diffs)
    return report
