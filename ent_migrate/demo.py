"""``make demo``: a whole migration on the embedded default, in ./demo-out/ (no server needed).

1. generate a synthetic district of about 5,000 accounts as "vendor A"'s reversibility package;
2. plan (the dry-run) into "vendor B" and print its summary;
3. apply, then verify (every item should be ``=``), writing ``demo-out/verify.json``;
4. print where the HTML report is.

Every step is the real command a user would type, run as a subprocess and echoed first, and
``demo-out/ent-migrate.toml`` re-runs it: ``ent-migrate run -c demo-out/ent-migrate.toml``.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

CONFIG = """\
# Written by `make demo`. Re-run the migration with:  ent-migrate run -c demo-out/ent-migrate.toml
[state]
# Relative to this file's folder: a copy of the folder elsewhere has its own state store.
url = "sqlite:///state.db"

[source.vendor_a]
spec = "package:vendor-a"

[target.vendor_b]
spec = "package:vendor-b"

[mapping]
file = "default"

[safety]
max_deletions = 50
max_deletions_pct = 5.0
max_updates_pct = 30.0

[run]
concurrency = 4

[report]
dir = "reports"

[privacy]
# The pseudonym key stays with the data controller; here, a file made for the demo.
key_file = "pseudonym.key"
"""


def _step(title: str, *args: str, capture: bool = False, ok: tuple[int, ...] = (0,)) -> str:
    cmd = [sys.executable, "-m", "ent_migrate", *args]
    shown = "ent-migrate " + " ".join(shlex.quote(a) for a in args)
    print(f"\n== {title}\n$ {shown}", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None, text=True, check=False)
    if proc.returncode not in ok:
        print(f"demo: `{shown}` exited with {proc.returncode}", file=sys.stderr)
        sys.exit(proc.returncode)
    return proc.stdout or ""


def main(out: Path = Path("demo-out"), accounts: int = 5000, seed: int = 2026) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(mode=0o700, parents=True)
    out = out.resolve()
    key = out / "pseudonym.key"
    key.write_text(secrets.token_hex(32) + "\n")
    key.chmod(0o600)
    config = out / "ent-migrate.toml"
    config.write_text(CONFIG)
    (out / "vendor-b").mkdir()  # vendor B starts empty: an empty folder is an empty package
    os.environ.setdefault("CI", "1")  # no progress bars in the demo's captured output
    _step(
        f"Generate a district of about {accounts} accounts as vendor A's reversibility package",
        "fixtures",
        "generate",
        "--accounts",
        str(accounts),
        "--seed",
        str(seed),
        "--out",
        str(out / "vendor-a"),
    )
    _step("Create the state store", "-c", str(config), "db", "upgrade")
    plan = json.loads(
        _step(
            "Dry-run: what would change, and why (nothing is written)",
            "-c",
            str(config),
            "plan",
            "--json",
            capture=True,
        )
    )
    actions = plan["actions"]
    print(
        "   "
        + "  ".join(
            f"{a} {actions.get(a, 0)}" for a in ("create", "update", "move", "disable", "delete", "skip", "invalid")
        )
    )
    _step("Apply the plan into vendor B (journaled, resumable)", "-c", str(config), "apply")
    verify_out = _step(
        "Verify: read vendor B back and compare every item",
        "-c",
        str(config),
        "verify",
        "--json",
        capture=True,
        ok=(0, 1),
    )
    (out / "verify.json").write_text(verify_out)
    verify = json.loads(verify_out)
    marks = verify["marks"]
    print("   " + "  ".join(f"{m} {marks.get(m, 0)}" for m in ("=", "+", "-", "*", "!")))
    report = Path(verify["report"]["dir"]) / "verify-report.html"
    shown = config.relative_to(Path.cwd()) if config.is_relative_to(Path.cwd()) else config
    print(f"\nHTML report: {report}\nRe-run everything: ent-migrate run -c {shown}")
    differences = sum(n for m, n in marks.items() if m != "=")
    if differences:
        print(f"demo: verify found {differences} differences", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ent_migrate.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    args = parser.parse_args()
    main(args.out, args.accounts, args.seed)
