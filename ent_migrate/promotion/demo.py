"""``make demo-promotion``: the two generated school years, promoted end to end through the CLI, no server.

Runs, as the scheduled job would over a summer (``--today`` stands in for the calendar): before the
promotion date (match + family notices), an opt-out, the promotion date (export, import into
"Mon école primaire/", verify), the read-only date, then the deletion; then status and the reports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ent_migrate.fixtures.promotion import write_promotion_fixture

__all__ = ["main"]

_STEPS = (
    ("db", "upgrade"),
    ("promote", "plan", "--today", "2027-06-01"),
    ("promote", "apply", "--today", "2027-06-01"),
    ("promote", "opt-out", "e12"),
    ("promote", "apply", "--today", "2027-07-05"),
    ("promote", "apply", "--today", "2027-09-02"),
    ("promote", "apply", "--today", "2027-10-02"),
    ("promote", "status", "--today", "2027-10-02"),
    ("promote", "report"),
    ("promote", "schedule", "--print"),
)


def main(out: Path = Path("demo-promotion-out")) -> int:
    if out.exists():
        shutil.rmtree(out)
    fixture = write_promotion_fixture(out.resolve(), store_prefix="demo")
    for step in _STEPS:
        args = ["-c", str(fixture.config), *step]
        print("$ ent-migrate " + " ".join(args), flush=True)
        cmd = [sys.executable, "-m", "ent_migrate", *args]
        rc = subprocess.run(cmd, check=False).returncode
        if rc != 0:
            print(f"step failed with exit code {rc}", file=sys.stderr)
            return rc
    print(f"\nnotices, zips and the report are in {fixture.root / 'promotion-out'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
