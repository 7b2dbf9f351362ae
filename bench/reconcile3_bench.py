"""Issue 12 item 7: reconcile + map + plan of one district read from three sources (AAF, SIECLE, ONDE)
into one state store, next to a bare dictionary join of the same records (``python -m bench reconcile3``).

Our side, in one process with one SQLite state store: three plans in a row, each from its own source
(``[source.aaf]``, then ``[source.siecle]``, then ``[source.onde]``, the order a project lead would take:
the académie's directory first, then each school's export) into an empty ``memory:`` target, as
``plan_bench`` does. Identities are shared across the runs, so SIECLE's and ONDE's people reconcile
against those AAF founded; each run's reconcile counts, and the method each person joined by (read back
from the plan report, as a project lead would), say whether the three sources folded onto one identity
per person.

The raw limit: bare ``lxml.etree.iterparse`` over the same AAF and SIECLE XML and ``csv`` over ONDE's
CSV, one dict lookup per person: pupils by INE, everyone else by the source's own id (an ONDE guardian
or teacher has none: by name and school, the only key the file gives).
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lxml import etree

from ent_migrate.registry import load_registry

__all__ = ["KINDS", "bare_join", "our_three_plans", "sources"]

load_registry()  # imports and entry points are loaded before the timer starts, for both sides

#: the three kinds of source, in the order their plans run
KINDS = ("aaf", "siecle", "onde")

_KEY = "0123456789abcdef" * 4  # a literal privacy key: bench only, generated data


def sources(folders: dict[str, str], *, prefix_ids: bool = True) -> list[tuple[str, str, str, dict[str, str]]]:
    """(kind, source name, spec, options) of every run: the académie's AAF export is one source; SIECLE
    and ONDE export one school each (their connectors read one school), so each school is a source of
    its own, ``[source.siecle-<UAI>]``, as a project would configure them.

    *prefix_ids* gives each SIECLE school ``id_prefix = "<UAI>:"``. The generator numbers people once
    for the whole district, so a SIECLE ``ELEVE_ID`` / ``PERSONNE_ID`` equals the AAF id of the same
    person; an identity's canonical id is the id of the source that founded it, and the matching core
    never scores a person against a candidate with their own key, so without a prefix SIECLE's people
    are not matched at all: each lands on AAF's identity only because ``identities.add`` files a "new"
    identity whose canonical id exists under that one (see the bench's note in the issue)."""
    out: list[tuple[str, str, str, dict[str, str]]] = [("aaf", "aaf", f"aaf:{folders['aaf']}", {})]
    for kind in ("siecle", "onde"):
        for school in sorted(p for p in Path(folders[kind]).iterdir() if p.is_dir()):
            options = {}
            if kind == "onde":  # ONDE files do not carry the UAI: the generator names each folder by it
                options["uai"] = school.name
            elif prefix_ids:
                options["id_prefix"] = f"{school.name}:"
            out.append((kind, f"{kind}-{school.name}", f"{kind}:{school}", options))
    return out


def _context(tmp: str, engine: Any, name: str, spec: str, options: dict[str, str]) -> Any:
    from ent_migrate.config import Config
    from ent_migrate.pipeline import PipelineContext

    config = Config(
        None,
        {
            "source": {name: {"spec": spec, **options}},
            "target": {"ent": {"spec": "memory:bench"}},
            "privacy": {"key": _KEY},
            "report": {"dir": f"{tmp}/reports-{name}"},
            # ONDE links a guardian to a child by names and class only: the generator's homonyms in one
            # class (hostile data, 2% of families) are link.ambiguous errors, never guessed. A project
            # lead would read them and accept them; the bench accepts and counts them.
            "safety": {"max_input_errors": -1},
        },
    )
    return PipelineContext.from_config(engine, config)


def _methods(report_dir: str) -> dict[str, int]:
    """How the people of one plan got their identity (new / decision / ine / jointure / children /
    score), as the plan report tells a project lead."""
    report = json.loads((Path(report_dir) / "plan-report.json").read_text(encoding="utf-8"))
    return {str(k): int(v) for k, v in report["matching"]["by_method"].items()}


def our_three_plans(folders: dict[str, str], prefix_ids: bool = True) -> dict[str, Any]:
    """Every source's plan in a row on one state store (AAF, then each collège's SIECLE, then each
    école's ONDE); timed from the first extract to the last report. Counts are summed per kind."""
    from ent_migrate.outcomes import Stage
    from ent_migrate.pipeline import do_plan, open_run
    from ent_migrate.state import StateStore, make_engine, upgrade

    runs = sources(folders, prefix_ids=prefix_ids)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/state.db")
        upgrade(engine)
        per_kind: dict[str, dict[str, Any]] = {
            k: {
                "sources": 0,
                "seconds": 0.0,
                "records": 0,
                "people": 0,
                "input_errors": 0,
                "reconcile": Counter(),
                "methods": Counter(),
            }
            for k in KINDS
        }
        reports: list[tuple[str, str]] = []
        start = time.perf_counter()
        for kind, name, spec, options in runs:
            began = time.perf_counter()
            ctx = _context(tmp, engine, name, spec, options)
            try:
                run_id = open_run(ctx)
                out = do_plan(ctx, run_id)
                extracted = ctx.state.runs.stage_counts(run_id, Stage.EXTRACT)
                reconciled = ctx.state.runs.stage_counts(run_id, Stage.RECONCILE)
            finally:
                ctx.close()
            row = per_kind[kind]
            row["sources"] += 1
            row["seconds"] += time.perf_counter() - began
            row["records"] += sum(int(v) for v in extracted["records"].values())
            row["people"] += int(extracted["people"])
            row["reconcile"].update({k: v for k, v in reconciled.items() if isinstance(v, int)})
            row["input_errors"] += int(out["input_errors"])
            reports.append((kind, str(out["report"]["dir"])))
        seconds = time.perf_counter() - start
        for kind, folder in reports:  # after the timer: what a project lead reads, not what plan costs
            per_kind[kind]["methods"].update(_methods(folder))
        state = StateStore(engine)
        identities = state.identities.counts_by_profile()
        review = state.review.pending_count()
        engine.dispose()
    for row in per_kind.values():
        row["seconds"] = round(row["seconds"], 1)
        row["reconcile"] = dict(row["reconcile"])
        row["methods"] = dict(sorted(row["methods"].items()))
    return {
        "count": sum(int(r["records"]) for r in per_kind.values()),
        "seconds": seconds,
        "sources": per_kind,
        "identities": identities,
        "review_queue": review,
    }


# -- the raw limit -----------------------------------------------------------------------------------


def _iter_entries(path: Path, tag: str) -> Any:
    for _, element in etree.iterparse(
        str(path), events=("end",), tag=tag, resolve_entities=False, no_network=True, load_dtd=False
    ):
        yield element
        element.clear(keep_tail=False)
        while element.getprevious() is not None:
            parent = element.getparent()
            if parent is None:
                break
            del parent[0]


def _aaf(folder: Path) -> Any:
    """(INE or None, id) per person of an AAF export."""
    for path in sorted(folder.rglob("*.xml")):
        if "EtabEducNat" in path.name:
            continue
        for element in _iter_entries(path, "addRequest"):
            ine = element.findtext("attributes/attr[@name='ENTEleveINE']/value")
            yield ine or None, "aaf:" + (element.findtext("identifier/id") or "")


def _siecle(folder: Path) -> Any:
    for path in sorted(folder.rglob("*.xml")):
        if path.name.startswith("Eleves"):
            for element in _iter_entries(path, "ELEVE"):
                yield element.findtext("ID_NATIONAL") or None, "siecle:" + str(element.get("ELEVE_ID"))
        elif path.name.startswith("Responsables"):
            for element in _iter_entries(path, "PERSONNE"):
                yield None, "siecle:" + str(element.get("PERSONNE_ID"))
        elif path.name.startswith("sts_emp"):
            for element in _iter_entries(path, "INDIVIDU"):
                yield None, "siecle:" + str(element.get("ID"))


def _onde(folder: Path) -> Any:
    for path in sorted(folder.rglob("*.csv")):
        with path.open(encoding="iso-8859-15", newline="") as fh:
            rows = csv.reader(fh, delimiter=";")
            next(rows, None)
            pupils = path.name.endswith("eleves.csv")
            for row in rows:
                if pupils:
                    yield row[5] or None, f"onde:{path.parent.name}:{row[0]}:{row[2]}:{row[3]}"
                else:
                    yield None, f"onde:{path.parent.name}:{row[2]}:{row[3]}"


def bare_join(folders: dict[str, str]) -> dict[str, Any]:
    """Every person of the three exports, joined in one dict: pupils by INE, the others by id."""
    by_key: dict[str, int] = {}
    records = joined = 0
    start = time.perf_counter()
    for reader, name in ((_aaf, "aaf"), (_siecle, "siecle"), (_onde, "onde")):
        for ine, ident in reader(Path(folders[name])):
            records += 1
            key = ine or ident
            if key in by_key:
                joined += 1
            else:
                by_key[key] = records
    return {"count": records, "seconds": time.perf_counter() - start, "joined": joined, "distinct": len(by_key)}
