"""Write the audit report: JSON, CSV (one row per clause), a French HTML page, SHA256SUMS and its
detached Ed25519 signature. Files are written to temporary names and moved into place, SHA256SUMS last.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import jinja2

from ent_migrate.audit.result import Verdict
from ent_migrate.audit.run import AuditResult
from ent_migrate.audit.signing import sign_file
from ent_migrate.report.writers import SUMS_NAME, csv_cell

__all__ = ["CSV_HEADER", "REPORT_NAMES", "write_audit_report"]

CSV_HEADER = ("clause", "titre", "promis", "livre", "verdict", "respecte", "motif", "elements_en_echec")
REPORT_NAMES = ("audit-report.json", "audit-report.csv", "audit-report.html")
_COLOURS = {
    Verdict.CONFORME: "#2e7d32",
    Verdict.PARTIEL: "#ef6c00",
    Verdict.NON_CONFORME: "#c62828",
    Verdict.NON_VERIFIABLE: "#757575",
}
_env = jinja2.Environment(
    loader=jinja2.PackageLoader("ent_migrate.audit", "templates"),
    autoescape=True,  # every why and evidence value is data, never markup
    undefined=jinja2.StrictUndefined,
)


def _csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for c in document["clauses"]:
        writer.writerow(
            [
                c["clause"],
                csv_cell(c["title"]),
                "oui" if c["promised"] else "non",
                "oui" if c["delivered"] else "non",
                c["verdict"],
                "oui" if c["met"] else "non",
                csv_cell(c["why"]),
                len(c["failing"]),
            ]
        )
    return out.getvalue()


def _chart(result: AuditResult) -> list[dict[str, Any]]:
    """Bars of the verdict counts (inline SVG in the page: no script, no external resource)."""
    total = len(result.clauses) or 1
    bars = []
    for verdict in Verdict:
        n = sum(1 for c in result.clauses if c.verdict is verdict)
        bars.append(
            {"label": str(verdict), "count": n, "width": round(100 * n / total, 1), "colour": _COLOURS[verdict]}
        )
    return bars


def _html(result: AuditResult, document: dict[str, Any]) -> str:
    return _env.get_template("audit.html.j2").render(
        doc=document, chart=_chart(result), colours={str(k): v for k, v in _COLOURS.items()}
    )


def _put(out_dir: Path, name: str, data: bytes) -> Path:
    tmp = out_dir / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def write_audit_report(result: AuditResult, out_dir: Path, signing_key: Path | None) -> list[Path]:
    """Write the report into *out_dir*; sign SHA256SUMS when *signing_key* is given. Returns the paths."""
    import hashlib

    out_dir.mkdir(parents=True, exist_ok=True)
    document = result.to_dict()
    document["signing_key_id"] = None
    if signing_key is not None:
        from ent_migrate.audit.signing import load_private_key, public_key_id

        document["signing_key_id"] = public_key_id(load_private_key(signing_key).public_key())
    payloads = {
        "audit-report.json": (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode(),
        "audit-report.csv": _csv(document).encode("utf-8"),
        "audit-report.html": _html(result, document).encode("utf-8"),
    }
    temps = {name: _put(out_dir, name, data) for name, data in payloads.items()}
    sums = "".join(f"{hashlib.sha256(payloads[n]).hexdigest()}  {n}\n" for n in sorted(payloads))
    temps[SUMS_NAME] = _put(out_dir, SUMS_NAME, sums.encode("ascii"))
    (out_dir / f"{SUMS_NAME}.sig").unlink(missing_ok=True)  # a stale signature must never vouch for new sums
    for name, tmp in temps.items():
        os.replace(tmp, out_dir / name)
    paths = [out_dir / n for n in (*REPORT_NAMES, SUMS_NAME)]
    if signing_key is not None:
        sig, _key_id = sign_file(out_dir / SUMS_NAME, signing_key)
        paths.append(sig)
    return paths
