"""Write a report: CSV streamed row by row, JSON and HTML from capped lists, then the SHA256SUMS manifest.

Every file is first written to a temporary file in the output directory (mode 0600, fsynced), hashed
from disk, and only then moved into place with ``os.replace`` — the manifest last — so a crash leaves
either the previous report or the complete new one, never a half-written file a manifest vouches for.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ent_migrate.errors import ConfigError
from ent_migrate.report._temps import temp_prefix
from ent_migrate.report.collect import Collected, ordered_statuses
from ent_migrate.report.html import render_html
from ent_migrate.report.model import (
    CLEAR_KEY_KINDS,
    MARK_WORDS,
    ReportData,
    ReportItem,
    WrittenReport,
    status_word,
)
from ent_migrate.report.scrub import scrub_reason, scrub_text, scrub_value

__all__ = [
    "CSV_HEADER",
    "MATCH_COLUMNS",
    "SUMS_NAME",
    "Collected",
    "SumsMismatchError",
    "check_sums",
    "csv_cell",
    "ordered_statuses",
    "write_reports",
]

CSV_HEADER: tuple[str, ...] = ("kind", "id", "status", "mark", "reason", "uai", "profile")
#: appended to the plan CSV: per person, the identity matched, how and why, and the login's origin
MATCH_COLUMNS: tuple[str, ...] = ("identity", "match", "why", "login")
SUMS_NAME = "SHA256SUMS"
_DEFAULT_JSON_CAP = 10_000
_DEFAULT_HTML_CAP = 1_000
_REPORT_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")
# OWASP's list: a cell starting with these is evaluated as a formula (or DDE) by Excel and LibreOffice.
_FORMULA_START = frozenset("=+-@\t\r")
_UAI = re.compile(r"[0-9]{7}[A-Z]")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run: a leading ``'`` before a formula character (OWASP guard)."""
    return "'" + value if value[:1] in _FORMULA_START else value


def _short(value: str | None) -> str | None:
    # uai and profile are meant to be a UAI and an enum value; anything else is free text to scrub.
    if value is None or _UAI.fullmatch(value) or (value.isidentifier() and value.islower()):
        return value
    return scrub_reason(value)


def _item_id(item: ReportItem, pseudonymize: Callable[[str], str]) -> str:
    # Membership and guardianship keys embed person ids, so a non-clear key is pseudonymised whole.
    return scrub_text(item.key) if item.kind in CLEAR_KEY_KINDS else pseudonymize(item.key)


@contextlib.contextmanager
def _temp_file(out_dir: Path, name: str, temps: list[Path]) -> Iterator[IO[bytes]]:
    fd, raw = tempfile.mkstemp(dir=out_dir, prefix=temp_prefix(name), suffix=".tmp")
    temps.append(Path(raw))
    with os.fdopen(fd, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class SumsMismatchError(ValueError):
    """A report folder is not as its SHA256SUMS says; the message names the manifest's line and the
    file. ``changed`` is true when a file's bytes differ (not a bad line or an unreadable file)."""

    def __init__(self, message: str, *, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


def check_sums(folder: Path, sums: str) -> None:
    """Every file the SHA256SUMS text *sums* of *folder* names hashes as listed (``sha256sum -c``, for
    the files of that folder only); SumsMismatchError at the first that does not."""
    manifest = folder / SUMS_NAME
    for number, line in enumerate(sums.splitlines(), 1):
        digest, _sep, name = line.partition("  ")
        if not name or "/" in name or name.startswith("."):
            raise SumsMismatchError(f"{manifest}:{number}: not a 'SHA256  NAME' line")
        try:
            actual = _sha256(folder / name)
        except OSError as exc:
            raise SumsMismatchError(f"{manifest}:{number}: {name}: {exc.strerror}") from None
        if actual != digest:
            raise SumsMismatchError(f"{manifest}:{number}: {name} was changed", changed=True)


def _write_csv(
    data: ReportData,
    handle: IO[bytes],
    pseudonymize: Callable[[str], str],
    delimiter: str,
    collected: Collected,
) -> None:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="", write_through=False)
    try:
        writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        plan = data.kind == "plan"
        writer.writerow(CSV_HEADER + MATCH_COLUMNS if plan else CSV_HEADER)
        for item in data.items:
            entry: dict[str, str | None] = {
                "kind": item.kind,
                "id": _item_id(item, pseudonymize),
                "reason": scrub_reason(item.reason, item.key, pseudonymize),
                "uai": _short(item.uai),
                "profile": _short(item.profile),
            }
            if item.match is not None:
                entry |= _match_entry(item, pseudonymize)
            mark = item.status if item.status in MARK_WORDS else ""
            row: tuple[str | None, ...] = (
                entry["kind"],
                entry["id"],
                status_word(item.status),
                mark,
                entry["reason"],
                entry["uai"],
                entry["profile"],
            )
            if plan:
                row += tuple(entry.get(column) for column in MATCH_COLUMNS)
            # csv_cell, inlined: eleven calls a row were a tenth of the report's writing.
            writer.writerow([("'" + cell if cell[:1] in _FORMULA_START else cell) if cell else "" for cell in row])
            collected.add(item.status, entry)
        text.flush()
    finally:
        # Detach so that closing the wrapper does not close the temp file before it is fsynced.
        text.detach()


def _match_entry(item: ReportItem, pseudonymize: Callable[[str], str]) -> dict[str, str | None]:
    # The identity is a person id: pseudonymised like the item's own. ``why`` holds only key names
    # and a score, ``login`` only the login's origin: scrubbed anyway, as every free text is.
    return {
        "identity": pseudonymize(item.identity) if item.identity else None,
        "match": _short(item.match),
        "why": scrub_reason(item.why, item.key, pseudonymize) if item.why else None,
        "login": scrub_reason(item.login, item.key, pseudonymize) if item.login else None,
    }


def _conflicts(data: ReportData, pseudonymize: Callable[[str], str]) -> list[dict[str, str | None]]:
    return [
        {
            "reason": _short(c.get("reason")),
            "person": pseudonymize(c["person"]),
            "candidate": pseudonymize(c["candidate"]),
            "profile": _short(c.get("profile")),
            "score": scrub_text(c.get("score") or ""),
            "matched": scrub_text(c.get("matched") or ""),
            "differed": scrub_text(c.get("differed") or ""),
        }
        for c in data.conflicts or ()
    ]


def _unread(data: ReportData, cap: int) -> tuple[list[dict[str, Any]], int]:
    """The occurrences that could not be read, up to *cap*, and how many in all."""
    kept: list[dict[str, Any]] = []
    total = 0
    for entry in data.unread:
        total += 1
        if len(kept) < cap:
            kept.append(scrub_value(dict(entry)))
    return kept, total


def _json_document(
    data: ReportData, collected: Collected, cap: int, pseudonymize: Callable[[str], str]
) -> dict[str, Any]:
    lists, truncated = collected.capped(cap)
    unread, unread_total = _unread(data, cap)
    document = {
        "kind": data.kind,
        "verdict": data.verdict,
        "revision": data.revision,
        "key_id": data.key_id,
        "input_errors": data.input_errors,
        "accepted_input_errors": data.accepted_input_errors,
        "refusal": scrub_value(data.refusal) if data.refusal else None,
        "plan_digest": data.plan_digest,
        "run_id": scrub_text(data.run_id),
        "created_at": data.created_at,
        "source": scrub_text(data.source),
        "target": scrub_text(data.target),
        "counts": dict(data.counts),
        "counts_by_kind": {k: dict(v) for k, v in data.counts_by_kind.items()},
        "counts_by_school": {k: dict(v) for k, v in sorted(data.counts_by_school.items())},
        "problems": scrub_value(data.problems),
        "thresholds": scrub_value(data.thresholds),
        "rows": collected.rows,
        "rows_by_status": {s: collected.seen[s] for s in ordered_statuses(list(collected.seen))},
        "lists": lists,
        "truncated": truncated,
        "unread": unread,
        "unread_total": unread_total,
    }
    if data.kind == "plan" and (collected.matches or data.conflicts is not None):
        # Only a plan matches people; added last so the keys every report has keep their order.
        conflicts = _conflicts(data, pseudonymize)
        document["matching"] = {
            "by_method": dict(sorted(collected.matches.items())),
            "logins": dict(sorted(collected.logins.items())),
            "conflicts_total": len(conflicts),
        }
        document["conflicts"] = conflicts[:cap]  # capped like the lists; review export has them all
    return document


def write_reports(
    data: ReportData,
    out_dir: Path,
    pseudonymize: Callable[[str], str],
    *,
    csv_delimiter: str = ",",
    json_cap: int = _DEFAULT_JSON_CAP,
    html_cap: int = _DEFAULT_HTML_CAP,
) -> WrittenReport:
    """Write ``<kind>-report.{csv,json,html}`` and ``SHA256SUMS`` into ``out_dir``; iterate items once."""
    if csv_delimiter not in {",", ";"}:
        raise ConfigError(f"CSV delimiter must be ',' or ';', not {csv_delimiter!r}")
    if not _REPORT_KIND.fullmatch(data.kind):
        raise ConfigError(f"report kind must be a short lower-case word such as 'plan' or 'verify', not {data.kind!r}")
    if json_cap < 0 or html_cap < 0:
        raise ConfigError("report list caps must be zero or more")
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    json_name, csv_name, html_name = (f"{data.kind}-report.{ext}" for ext in ("json", "csv", "html"))
    temps: list[Path] = []  # every temp file made so far, removed if anything fails
    written: dict[str, Path] = {}  # final name -> temp file, in the order they are moved into place
    try:
        collected = Collected(max(json_cap, html_cap))
        with _temp_file(out_dir, csv_name, temps) as handle:
            _write_csv(data, handle, pseudonymize, csv_delimiter, collected)
        written[csv_name] = temps[-1]
        document = _json_document(data, collected, json_cap, pseudonymize)
        with _temp_file(out_dir, json_name, temps) as handle:
            handle.write((json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
        written[json_name] = temps[-1]
        with _temp_file(out_dir, html_name, temps) as handle:
            handle.write(render_html(data, document, collected, html_cap).encode("utf-8"))
        written[html_name] = temps[-1]
        # Hashed from disk, after fsync: the manifest vouches for the bytes actually stored.
        sums = "".join(f"{_sha256(written[name])}  {name}\n" for name in sorted(written))
        with _temp_file(out_dir, SUMS_NAME, temps) as handle:
            handle.write(sums.encode("ascii"))
        written[SUMS_NAME] = temps[-1]
        digest = hashlib.sha256(sums.encode("ascii")).hexdigest()
        for name, tmp in written.items():  # SHA256SUMS last: it never names a file not yet in place
            os.replace(tmp, out_dir / name)
        temps.clear()
        _fsync_dir(out_dir)
    finally:
        for leftover in temps:
            leftover.unlink(missing_ok=True)
        if temps and created:
            with contextlib.suppress(OSError):  # only if empty: another writer's files keep it
                out_dir.rmdir()  # a failed first report leaves no empty folder to mistake for one
    finals = [out_dir / name for name in (json_name, csv_name, html_name, SUMS_NAME)]
    return WrittenReport(paths=finals, digest=digest)


def _fsync_dir(path: Path) -> None:
    # The renames are durable only once the directory entry is; not possible on every platform.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
