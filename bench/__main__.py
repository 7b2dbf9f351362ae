"""``make bench`` / ``python -m bench [plan|plan-pg|apply|readers|ldap|mail|rest|all] [SIZES...]``: the closing
notes' figures.

Writes ``bench/out/results.json`` and prints a table. Generated districts are cached in bench/out/.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from bench._measure import measure

OUT = Path(__file__).resolve().parent / "out"


def _district(accounts: int) -> Path:
    path = OUT / f"district-{accounts}"
    if not (path / "manifest.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ent_migrate",
                "fixtures",
                "generate",
                "--accounts",
                str(accounts),
                "--seed",
                "1",
                "--no-content",
                "--out",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
    return path


def _export(accounts: int, fmt: str) -> Path:
    path = OUT / f"{fmt}-{accounts}"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ent_migrate",
                "fixtures",
                "generate",
                "--accounts",
                str(accounts),
                "--seed",
                "1",
                "--no-content",
                "--format",
                fmt,
                "--out",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
    return path


def readers(sizes: list[int]) -> list[dict[str, object]]:
    """Issue 4: the aaf and siecle readers against bare lxml iterparse + clear, same files, same run."""
    results: list[dict[str, object]] = []
    for accounts in sizes:
        for fmt in ("aaf", "siecle"):
            folder = str(_export(accounts, fmt))
            bare = measure("bench.readers_bench", "bare_iterparse", folder)
            ours = measure("bench.readers_bench", f"read_{fmt}", folder)
            size = sum(p.stat().st_size for p in Path(folder).rglob("*.xml"))
            row = {
                "bench": f"{fmt}-reader",
                "accounts": accounts,
                "megabytes": round(size / 2**20, 1),
                "records": ours["count"],
                "bare_mb_per_s": round(size / 2**20 / bare["seconds"], 2),
                "reader_mb_per_s": round(size / 2**20 / ours["seconds"], 2),
                "ratio": round(bare["seconds"] / ours["seconds"], 3),
                "reader_records_per_s": round(ours["per_second"]),
                "reader_peak_rss_mb": round(ours["peak_rss"] / 2**20, 1),
                "bare_peak_rss_mb": round(bare["peak_rss"] / 2**20, 1),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


def _plan_row(accounts: int, backend: str, server_url: str) -> dict[str, object]:
    package = str(_district(accounts))
    bare = measure("bench.plan_bench", "bare_loop", package)
    ours = measure("bench.plan_bench", "our_plan", package, *([server_url] if server_url else []))
    # The state store's floor (bench/store_floor.py): each record stored, expected and decided once.
    floor = measure("bench.store_floor", "store_floor", package, *([server_url] if server_url else []))
    row = {
        "bench": "plan",
        "backend": backend,
        "accounts": accounts,
        "records": bare["count"],
        "seconds": round(ours["seconds"], 1),
        "bare_records_per_s": round(bare["per_second"]),
        "plan_records_per_s": round(ours["count"] / ours["seconds"]),
        "plan_accounts_per_s": round(accounts / ours["seconds"]),
        "ratio": round(ours["count"] / ours["seconds"] / bare["per_second"], 3),
        "store_floor_records_per_s": round(floor["per_second"]),
        "ratio_to_store_floor": round(ours["count"] / ours["seconds"] / floor["per_second"], 3),
        "plan_peak_rss_mb": round(ours["peak_rss"] / 2**20, 1),
        # The report's reader (a fork: its pages shared with the plan's are counted in both).
        "plan_child_peak_rss_mb": round(ours["children_peak_rss"] / 2**20, 1),
        # The most the plan and its reader held at once (bench/_measure.py): the figure for a budget.
        "plan_peak_rss_together_mb": round(ours["peak_rss_together"] / 2**20, 1),
        "bare_peak_rss_mb": round(bare["peak_rss"] / 2**20, 1),
    }
    print(json.dumps(row), flush=True)
    return row


def main(sizes: list[int], which: str = "all") -> None:
    OUT.mkdir(exist_ok=True)
    results: list[dict[str, object]] = []
    if which == "mail":  # issue 11: IMAP APPEND against a private Dovecot (needs dovecot-imapd)
        from bench.mail import main as mail_bench

        results.extend(mail_bench(*sizes[:1]))
    if which == "ldap":  # issue 16: SDET entries into a private slapd vs ldapadd/ldapsearch (20,000 by default)
        from bench.ldap import run as ldap_bench

        results.extend(ldap_bench(*sizes[:1]))
    if which in ("all", "readers"):
        results.extend(readers(sizes))
    if which in ("all", "rest"):  # issue 10: SCIM creates vs a bare httpx loop (10,000 accounts by default)
        from bench.rest import bench_rest

        results.extend(bench_rest(sizes if which == "rest" else [min(sizes)]))
    if which == "reconcile3":  # issue 12: reconcile + map + plan of AAF, SIECLE, ONDE vs a bare dict join
        for accounts in sizes:
            folders = {k: str(_export(accounts, k)) for k in ("aaf", "siecle", "onde")}
            bare = measure("bench.reconcile3_bench", "bare_join", folders)
            ours = measure("bench.reconcile3_bench", "our_three_plans", folders)
            row = {
                "bench": "reconcile3",
                "accounts": accounts,
                "records": ours["count"],
                "seconds": round(ours["seconds"], 1),
                "accounts_per_s": round(accounts / ours["seconds"]),
                "records_per_s": round(ours["count"] / ours["seconds"]),
                "bare_records_per_s": round(bare["count"] / bare["seconds"]),
                "ratio": round(ours["count"] / ours["seconds"] / (bare["count"] / bare["seconds"]), 3),
                "peak_rss_mb": round(ours["peak_rss"] / 2**20, 1),
                "bare_peak_rss_mb": round(bare["peak_rss"] / 2**20, 1),
                "per_source": ours.get("sources"),
                "identities": ours.get("identities"),
            }
            results.append(row)
            print(json.dumps(row, default=str), flush=True)
    if which == "reconcile":  # issue 12: matching three sources vs a bare dict join by INE
        for accounts in sizes:
            bare = measure("bench.reconcile_bench", "bare_ine_join", accounts)
            ours = measure("bench.reconcile_bench", "our_correlate", accounts)
            row = {
                "bench": "reconcile",
                "accounts": accounts,
                "records": ours["count"],
                "bare_records_per_s": round(bare["per_second"]),
                "reconcile_records_per_s": round(ours["per_second"]),
                "ratio": round(ours["per_second"] / bare["per_second"], 3),
                "reconcile_peak_rss_mb": round(ours["peak_rss"] / 2**20, 1),
                "bare_peak_rss_mb": round(bare["peak_rss"] / 2**20, 1),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    for accounts in sizes if which in ("all", "plan") else []:
        results.append(_plan_row(accounts, "sqlite", ""))
    if which == "plan-pg":  # issue 15: the same dry-run on a private PostgreSQL (tests/servers/postgres.py)
        from bench.plan_bench import postgres_server

        with postgres_server() as url:
            for accounts in sizes:
                results.append(_plan_row(accounts, "postgresql", url))
    for accounts in sizes if which == "apply" else []:  # issue 15: apply + verify into a package target
        package = str(_district(accounts))
        bare = measure("bench.plan_bench", "bare_write_fsync", package)
        ours = measure("bench.plan_bench", "our_apply_verify", package)
        row = {
            "bench": "apply+verify",
            "accounts": accounts,
            "records": ours["count"],
            "applied": ours["applied"],
            "verdict": ours["verdict"],
            "bare_records_per_s": round(bare["per_second"]),
            "apply_verify_records_per_s": round(ours["per_second"]),
            "ratio": round(ours["per_second"] / bare["per_second"], 3),
            "peak_rss_mb": round(ours["peak_rss"] / 2**20, 1),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")


def _stop(signum: int, _frame: object) -> None:
    # Stopped with kill (SIGTERM): unwind, so that the servers a bench started (PostgreSQL, slapd,
    # Dovecot) are stopped by their context managers, not left running with their data on the cores.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    args = sys.argv[1:]
    benches = ("plan", "plan-pg", "apply", "readers", "mail", "rest", "ldap", "reconcile", "reconcile3", "all")
    which = args.pop(0) if args and args[0] in benches else "all"
    default = {"mail": [20_000], "rest": [10_000], "ldap": [20_000], "apply": [100_000]}.get(which, [10_000, 100_000])
    main([int(a) for a in args] or default, which)
