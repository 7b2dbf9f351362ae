"""Reports of a plan or verify run: JSON for machines, CSV for spreadsheets, HTML for people, SHA256SUMS.

API (used by the pipeline)::

    from ent_migrate.report import ReportData, ReportItem, WrittenReport, write_reports
    written = write_reports(data, out_dir, Pseudonymizer(key), csv_delimiter=";")
    written.paths   # [<kind>-report.json, <kind>-report.csv, <kind>-report.html, SHA256SUMS]
    written.digest  # sha256 of the SHA256SUMS file: the one value to sign or send by another channel
    remove_stale_temps(run_dir)  # the temporary files a killed writer left in the run's folders
    with run_folder_lock(run_dir): ...  # one writer of a run's reports at a time

``data.items`` is iterated exactly once, as a stream: CSV rows are written as they come; only items
whose status is not ``=`` or ``skip`` are kept, up to a cap per status (10,000 in the JSON lists, 1,000
shown in the HTML). ``counts*`` are the caller's exact figures and never depend on the caps.

Identifiers
    ``id`` is ``pseudonymize(key)`` (``p:`` + 16 hex, keyed HMAC-SHA256) for every kind except
    ``structure`` (UAI) and ``group`` (``UAI$code``), which are not personal and stay clear.
    Membership and guardianship keys embed person ids and are pseudonymised whole. Reasons are
    free text from other stages and are scrubbed (see :mod:`ent_migrate.report.scrub`): the item's own
    key becomes its pseudonym; capitalised words, e-mail addresses, INE-shaped and long digit runs
    become ``[redacted]``. ``uai``/``profile`` values that are not a UAI or a lower-case enum word are
    scrubbed the same way. Problem lists, specs and thresholds lose e-mail and INE shapes (file names
    in problem examples are kept: they must not carry names).

``<kind>-report.json`` (UTF-8, 2-space indent, keys in this order)::

    {"kind": "plan"|"verify", "run_id", "created_at", "source", "target",
     "counts": {status: n},            # verify: the marks "=", "+", "-", "*", "!"
     "counts_by_kind": {kind: {status: n}},
     "counts_by_school": {UAI: {profile: n}},
     "problems": [{"code", "severity", "count", "examples": ["file:line"], "details"?}],
     "thresholds": {name: value},
     "rows": n,                         # items seen = data rows in the CSV
     "rows_by_status": {status: n},     # items seen per status
     "lists": {status: [{"kind", "id", "reason", "uai", "profile"}]},   # not "=" nor "skip"; capped
     "truncated": {status: n_left_out}, # only statuses whose list was cut; the CSV has every item
     # plan only, last (ReportData.conflicts set, or people with a match):
     "matching": {"by_method": {method: n}, "logins": {origin: n}, "conflicts_total": n},
     "conflicts": [{"reason", "person", "candidate", "profile", "score", "matched", "differed"}]}

A plan's person entries (JSON lists, CSV rows) also say ``identity`` (the pseudonym of the identity
matched), ``match`` (``new``, ``known``, ``decision``, ``ine``, ``jointure``, ``children``, ``score``), ``why``
(``score 0.950: +last_name +first_name -structure``: the keys that matched and differed) and
``login`` (its origin: ``kept``, ``built``, ``built, old login as alias`` — never the login, which
holds a name; ``ent-migrate logins export`` gives the logins to whoever writes to families).
The account an earlier run made (or the target holds) that a person lands on is explained as the
source record folded onto it, so its row names the same identity as that record's.
``conflicts`` are the review queue entries of the run's source still undecided, in pseudonyms,
capped like the lists (``review export`` has them all).

``<kind>-report.csv``: UTF-8 with BOM, CRLF line ends, RFC 4180 quoting, delimiter ``,`` (default) or
``;`` (French spreadsheets); one header row ``kind,id,status,mark,reason,uai,profile`` (a plan adds
``identity,match,why,login``, empty but for people) then one row per item, in stream order.
``status`` is always a word: plan statuses as they are, verify marks as
``same`` (=), ``missing`` (+, missing on target), ``extra`` (-, only on target), ``differs`` (*),
``error`` (!). ``mark`` holds the verify mark (empty for plan reports). Formula-injection guard (OWASP):
any cell starting with ``= + - @``, tab or CR gets a leading ``'``, so the mark column reads ``'=``,
``'+``, ``'-``, ``*``, ``!`` — a spreadsheet shows it as text; a program strips one leading ``'``.

``<kind>-report.html``: one self-contained page in French (no external CSS, JS, font or image; inline
SVG charts), summary, counts per status, per kind, per school and profile, problems, the lists of
differences with their reasons ("et N de plus — voir le CSV"), thresholds.

``SHA256SUMS``: ``<hex>  <file name>\\n`` per file, sorted by name, as ``sha256sum -c SHA256SUMS``
checks it when run in the output directory.

Files are written to temporary files (mode 0600) in the output directory, fsynced, hashed, then
moved into place with ``os.replace``, SHA256SUMS last. The same data gives byte-identical files
(``created_at`` is part of the data).
"""

from __future__ import annotations

from ent_migrate.report._temps import remove_stale_temps, run_folder_lock
from ent_migrate.report.model import ReportData, ReportItem, WrittenReport
from ent_migrate.report.writers import write_reports

__all__ = ["ReportData", "ReportItem", "WrittenReport", "remove_stale_temps", "run_folder_lock", "write_reports"]
