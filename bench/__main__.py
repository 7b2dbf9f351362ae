"""``make bench`` / ``python -m bench [SIZES...]``: the figures quoted in the issues' closing notes.

Writes ``bench/out/results.json`` and prints a table. Generated districts are cached in bench/out/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench._measure import measure

OUT = Path(__file__).resolve().parent / "out"


def _district(accounts: int) -> Path:
    path = OUT / f"district-{accounts}"
    if not (path / "manifest.json").exists():
        subprocess.run(
            [sys.executable, "-m", "ent_migrate", "fixtures", "generate", "--accounts", str(accounts), "--seed", "1",
             "--no-content", "--out", str(path)],
            check=True, capture_output=True,
        )
    return path


def main(sizes: list[int]) -> None:
    OUT.mkdir(exist_ok=True)
    results = []
    for accounts in sizes:
        package = str(_district(accounts))
        bare = measure("bench.plan_bench", "bare_loop", package)
        ours = measure("bench.plan_bench", "our_plan", package)
        row = {
            "bench": "plan",
            "accounts": accounts,
            "records": bare["count"],
            "bare_records_per_s": round(bare["per_second"]),
            "plan_records_per_s": round(ours["count"] / ours["seconds"]),
            "plan_accounts_per_s": round(accounts / ours["seconds"]),
            "ratio": round(ours["count"] / ours["seconds"] / bare["per_second"], 3),
            "plan_peak_rss_mb": round(ours["peak_rss"] / 2**20, 1),
            "bare_peak_rss_mb": round(bare["peak_rss"] / 2**20, 1),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
