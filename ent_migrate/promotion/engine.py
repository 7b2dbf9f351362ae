"""One promotion run: read both sides, match, then move each pupil one step further when due.

``run(dry_run=True)`` (``promote plan``) walks the same steps on copies and writes nothing; ``apply``
walks it first too (thresholds), then for real. Every effect is idempotent: documents are written
with deterministic op ids (uuid5), notices and zips are files rewritten whole, so a run killed at any
point and run again ends as an uninterrupted run would.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import signal
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ent_migrate.config import Config
from ent_migrate.contract import Capability, Connector, Operation, Role, implemented_capabilities
from ent_migrate.errors import ConfigError, TerminalError, TransientError
from ent_migrate.model import Document, Group, Guardianship, Membership, Person, Production, Profile, RecordKind
from ent_migrate.outcomes import Action
from ent_migrate.privacy import Pseudonymizer
from ent_migrate.problems import Problems
from ent_migrate.promotion.config import PromotionConfig
from ent_migrate.promotion.matching import Candidate, PromotionMatcher
from ent_migrate.promotion.notices import render_notice
from ent_migrate.promotion.states import State
from ent_migrate.promotion.store import PromotionStore, Pupil
from ent_migrate.registry import open_connector

__all__ = ["CRASH_ENV", "NO_PROMOTION", "PROBLEMS_FILE", "Promoter", "RunSummary", "Side"]

CRASH_ENV = "ENT_MIGRATE_PROMOTION_KILL_AFTER"  # tests: SIGKILL self after N effects (a real kill -9)
PROBLEMS_FILE = "problemes-dernier-passage.json"  # under the output folder, rewritten by every apply
NO_PROMOTION = frozenset({"repeat", "left_france", "home_schooling"})
_DECISIONS = NO_PROMOTION | {"promoted", "private"}
_NS = uuid.UUID("6f0d1c1e-5c1b-4a43-9d8e-70726f6d6f74")
_CM2 = {"CM2"}
_SIXTH = {"6E", "6EME", "6"}


@dataclasses.dataclass(slots=True)
class Side:
    """What one side holds, indexed for the run."""

    people: dict[str, Person] = dataclasses.field(default_factory=dict)
    level_of: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # person → (uai, level)
    guardians: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    documents: dict[str, list[Document | Production]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class RunSummary:
    transitions: dict[str, int] = dataclasses.field(default_factory=dict)
    detected: dict[str, int] = dataclasses.field(default_factory=dict)
    thresholds: list[str] = dataclasses.field(default_factory=list)
    #: codes of ent_migrate.problems: the sources' input problems (``primary: file:line``) and the
    #: promotion's own (promotion.*, each pupil named by its pseudonym)
    problems: Problems = dataclasses.field(default_factory=Problems)
    input_errors: int = 0  # error-level problems of the two sources: over [safety] max_input_errors, apply refuses


def _read(conn: Connector, *, documents: bool, where: str) -> Side:
    side = Side()
    groups: dict[tuple[str, str], Group] = {}
    caps = implemented_capabilities(type(conn))
    if Capability.ACCOUNTS not in caps:
        raise ConfigError(f"{where}: the {conn.name} connector reads no accounts; a promotion side needs the pupils")
    for rec in conn.read_accounts():
        if isinstance(rec, Person):
            side.people[rec.id] = rec
    if Capability.GROUPS in caps:
        for g in conn.read_groups():
            groups[(g.uai, g.code)] = g
    if Capability.RELATIONS in caps:
        for rel in conn.read_relations():
            if isinstance(rel, Membership):
                grp = groups.get((rel.uai, rel.group_code))
                level = (grp.level or "").upper().replace(" ", "") if grp else ""
                if level in _CM2 or level in _SIXTH:
                    side.level_of[rel.person_id] = (rel.uai, level)
            elif isinstance(rel, Guardianship):
                side.guardians.setdefault(rel.student_id, []).append(rel.guardian_id)
    if documents and Capability.DOCUMENTS in caps:
        for doc in conn.read_documents():
            side.documents.setdefault(doc.owner_id, []).append(doc)
    return side


def _read_csv(path: Path | None, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if path is None:
        return []
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    rows = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}:1: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            if any(not (row.get(c) or "").strip() for c in columns):
                raise ConfigError(f"{path}:{line}: empty {'/'.join(columns)}")
            rows.append({k: (v or "").strip() for k, v in row.items() if k})
    return rows


def _doc_path(doc: Document | Production) -> str:
    if isinstance(doc, Document):
        return doc.path
    ext = {"text/html": "html", "text/markdown": "md", "application/json": "json"}.get(doc.format, "bin")
    safe = "".join(c if c.isalnum() or c in " -_." else "_" for c in doc.title).strip() or "sans-titre"
    return f"Productions/{doc.app}/{safe}.{ext}"


class Promoter:
    def __init__(
        self, config: Config, pc: PromotionConfig, store: PromotionStore, pseudo: Pseudonymizer, today: dt.date
    ) -> None:
        self.config, self.pc, self.store, self.pseudo, self.today = config, pc, store, pseudo, today
        self._effects = 0
        self._kill_after = int(os.environ.get(CRASH_ENV, "0") or 0)
        self._dry_run = True

    # ----------------------------------------------------------------------------- connectors

    def _open(self, role: str, name: str) -> Connector:
        _name, spec, options, where = self.config.endpoint(role, name)
        return open_connector(spec, options, where=where, role=Role(role))

    def _where(self, role: str, name: str) -> str:
        return self.config.endpoint(role, name)[3]

    def _decisions(self) -> dict[str, dict[str, str]]:
        rows = _read_csv(self.pc.decisions, ("pupil_id", "decision"))
        for i, row in enumerate(rows, start=2):
            if row["decision"] not in _DECISIONS:
                raise ConfigError(
                    f"{self.pc.decisions}:{i}: unknown decision {row['decision']!r} "
                    f"(one of {', '.join(sorted(_DECISIONS))})"
                )
        return {r["pupil_id"]: r for r in rows}

    def _origins(self) -> dict[str, str]:
        return {r["person_id"]: r["uai"] for r in _read_csv(self.pc.origins, ("person_id", "uai"))}

    # ----------------------------------------------------------------------------- the run

    def run(self, *, dry_run: bool) -> RunSummary:
        summary = RunSummary()
        with self._open("source", self.pc.primary) as primary, self._open("source", self.pc.college) as college:
            prim = _read(primary, documents=True, where=self._where("source", self.pc.primary))
            coll = _read(college, documents=False, where=self._where("source", self.pc.college))
            for side, conn in (("primary", primary), ("college", college)):
                for occ in conn.problems.occurrences():
                    summary.problems.add(occ.code, f"{side}: {occ.where}", occ.detail, occ.severity)
                summary.input_errors += conn.problems.errors
            target = self._open("target", self.pc.target) if self.pc.target and not dry_run else None
            try:
                go = self._walk(prim, coll, primary, target, summary, dry_run=dry_run)
                if target is not None:
                    target.finish()  # what was written is complete and durable before it is read back
                    self._verify_pass(target, summary, prim, primary, go)
            finally:
                if target is not None:
                    target.close()
        if not dry_run:
            # the report of a later `promote report` says what the last apply found (codes and pseudonyms)
            data = json.dumps(summary.problems.to_list(), ensure_ascii=False, indent=2) + "\n"
            self._write_whole(self._out(PROBLEMS_FILE), data.encode("utf-8"))
        return summary

    def _walk(
        self,
        prim: Side,
        coll: Side,
        primary: Connector,
        target: Connector | None,
        summary: RunSummary,
        *,
        dry_run: bool,
    ) -> Callable[..., None]:
        pc = self.pc
        self._dry_run = dry_run
        decisions, origins = self._decisions(), self._origins()
        cm2 = {pid: uai for pid, (uai, level) in prim.level_of.items() if level in _CM2 and pid in prim.people}
        for uai in sorted(set(cm2.values()) | set(pc.expected_cm2)):
            n = sum(1 for u in cm2.values() if u == uai)
            summary.detected[uai] = n
            expected = pc.expected_cm2.get(uai)
            if expected and not (expected * pc.min_ratio <= n <= expected / max(pc.min_ratio, 1e-9)):
                summary.thresholds.append(f"école {uai}: {n} CM2 pupils read, {expected} expected")
        matcher = PromotionMatcher(
            [
                Candidate(coll.people[pid], origins.get(pid))
                for pid, (_u, level) in sorted(coll.level_of.items())
                if level in _SIXTH and pid in coll.people and coll.people[pid].profile == Profile.STUDENT
            ],
            match_score=pc.match_score,
            review_score=pc.review_score,
        )
        pupils = self.store.pupils(pc.school_year)

        def go(
            p: Pupil, new: State, effect: Callable[[], None] | None = None, reason: str | None = None, **changes: Any
        ) -> None:
            label = f"{p.state}->{new}"
            summary.transitions[label] = summary.transitions.get(label, 0) + 1
            if dry_run:
                p.state, p.reason = new, reason
                for k, v in changes.items():
                    setattr(p, k, v)
                return
            self.store.transition(p, new, self._counted(effect), reason=reason, **changes)

        for pid, uai in sorted(cm2.items()):
            key = f"{pc.school_year}|{pid}"
            if key not in pupils:
                p = Pupil(key, pc.school_year, uai, None, None, State.DETECTED, None, None, False, {})
                if not dry_run:
                    self.store.detect(p)
                pupils[key] = p
        for key, p in sorted(pupils.items()):
            pid = key.split("|", 1)[1]
            person = prim.people.get(pid)
            decision = decisions.get(pid, {}).get("decision", "promoted")
            self._step(p, pid, person, decision, decisions.get(pid, {}), matcher, prim, primary, target, go, summary)
        return go

    def _item(self, summary: RunSummary, code: str, pid: str, step: Callable[[], None]) -> None:
        """A connector's failure fails only this pupil's step (errors.py: the run goes on). Its intent
        stays journaled and the next run makes the step again; the exception's class is kept, not its
        message, which may quote a server's answer about the pupil."""
        try:
            step()
        except (TerminalError, TransientError) as exc:
            summary.problems.add(code, f"pupil {self.pseudo(pid)}", type(exc).__name__)

    def _note(self, p: Pupil, *, reason: str, **changes: Any) -> None:
        """A pupil staying where it is with a new reason or explanation (no transition, nothing made)."""
        if self._dry_run:
            p.reason = reason
            for k, v in changes.items():
                setattr(p, k, v)
        else:
            self.store.note(p, reason=reason, **changes)

    def _counted(self, effect: Callable[[], None] | None) -> Callable[[], None] | None:
        if effect is None and not self._kill_after:
            return None

        def wrapped() -> None:
            if effect is not None:
                effect()
            self._effects += 1
            if self._kill_after and self._effects >= self._kill_after:
                os.kill(os.getpid(), signal.SIGKILL)  # the effect is made, its state not yet committed

        return wrapped

    def _step(
        self,
        p: Pupil,
        pid: str,
        person: Person | None,
        decision: str,
        drow: dict[str, str],
        matcher: PromotionMatcher,
        prim: Side,
        primary: Connector,
        target: Connector | None,
        go: Callable[..., None],
        summary: RunSummary,
    ) -> None:
        pc = self.pc
        if person is None:
            if p.state is State.PRIMARY_FROZEN and self.store.pending(p.key):
                # killed after the deletion was made, before it was recorded: record it now
                go(p, State.PRIMARY_DELETED, reason="deleted")
                return
            if p.state not in (State.PRIMARY_DELETED, State.PRIMARY_FROZEN):
                summary.problems.add("promotion.pupil-gone", f"pupil {self.pseudo(pid)}", "not in the primary source")
            return
        # ---- matching, and re-matching (late INE, appeal) until imported
        if p.state in (State.DETECTED, State.UNMATCHED, State.MATCHED, State.NOTIFIED, State.EXPORTED):
            if decision in NO_PROMOTION:
                if p.state in (State.DETECTED, State.MATCHED) and p.reason != decision:
                    go(p, State.UNMATCHED, reason=decision, college_uai=None, target_id=None)
                return
            if decision == "private":
                college_uai: str | None = drow.get("uai") or None
                target_id: str | None = None
                score, method = 100, "decision"
                explained: dict[str, Any] = {"method": "decision", "decision": "match", "score": 100}
            else:
                res = matcher.match(person, p.school_uai)
                explained = res.detail()
                if res.decision != "match" or res.target is None:
                    reason = "review" if res.decision == "review" else "not_found"
                    if reason == "review":
                        summary.problems.add(
                            "promotion.review", f"pupil {self.pseudo(pid)}", f"{res.candidates} candidate(s)"
                        )
                    detail = {**p.detail, "match": explained}
                    if p.state in (State.DETECTED, State.MATCHED):
                        go(
                            p,
                            State.UNMATCHED,
                            reason=reason,
                            score=res.score,
                            college_uai=None,
                            target_id=None,
                            detail=detail,
                        )
                    elif p.state is State.UNMATCHED and (p.reason, p.detail.get("match")) != (reason, explained):
                        # still unmatched, for a new reason or on new facts: noted, no transition
                        self._note(p, reason=reason, score=res.score, detail=detail)
                    return
                tperson = res.target.person
                college_uai = tperson.structures[0] if tperson.structures else None
                target_id = tperson.id
                if college_uai not in pc.project_colleges:
                    target_id = None  # a private or out-of-project collège: no target, the zip is offered
                score, method = res.score, res.method
            detail = {**p.detail, "match": explained}
            if p.state in (State.DETECTED, State.UNMATCHED):
                go(
                    p,
                    State.MATCHED,
                    reason=method,
                    score=score,
                    college_uai=college_uai,
                    target_id=target_id,
                    detail=detail,
                )
            elif (college_uai, target_id) != (p.college_uai, p.target_id):
                go(
                    p,
                    State.MATCHED,
                    reason="appeal",
                    score=score,
                    college_uai=college_uai,
                    target_id=target_id,
                    detail=detail,
                )
        # ---- the family notice
        if p.state is State.MATCHED:
            if self.today > pc.promotion_date:
                summary.problems.add("promotion.notice-late", f"pupil {self.pseudo(pid)}", "after the promotion date")
            go(p, State.NOTIFIED, lambda: self._notice(p, pid, person), reason="notice")
        if p.state is State.NOTIFIED and p.opted_out:
            go(p, State.OPTED_OUT, reason="opt_out")
        # ---- export, import, verify once the promotion date has come
        if p.state is State.NOTIFIED and self.today >= pc.promotion_date:
            docs = prim.documents.get(pid, [])
            files = [{"path": _doc_path(d), "sha256": d.sha256, "size": d.size} for d in docs]
            self._item(
                summary,
                "promotion.export-failed",
                pid,
                lambda: go(
                    p,
                    State.EXPORTED,
                    lambda: self._zip(p, pid, docs, primary),
                    reason="export",
                    detail={**p.detail, "files": files},
                ),
            )
        if p.state is State.EXPORTED and p.target_id is not None and target is not None:
            self._item(
                summary,
                "promotion.import-failed",
                pid,
                lambda: go(
                    p,
                    State.IMPORTED,
                    lambda: self._import(p, pid, prim.documents.get(pid, []), primary, target),
                    reason="import",
                ),
            )
        if p.state is State.IMPORTED:
            return  # verified after the target's finish(), in _verify_pass
        self._grace(p, pid, prim, primary, go, summary)

    def _grace(
        self,
        p: Pupil,
        pid: str,
        prim: Side,
        primary: Connector,
        go: Callable[..., None],
        summary: RunSummary,
    ) -> None:
        """Grace, the read-only primary account, deletion on the CNIL clock: the same for a pupil
        verified in this run's verify pass as for one verified before, so a re-run changes nothing."""
        pc = self.pc
        done = p.state in (State.VERIFIED, State.OPTED_OUT) or (p.state is State.EXPORTED and p.target_id is None)
        if done and self.today >= pc.freeze_date:
            go(p, State.PRIMARY_FROZEN, reason="read_only")
        if p.state is State.PRIMARY_FROZEN and self.today >= pc.delete_from:
            if Capability.DELETE in implemented_capabilities(type(primary)):
                go(p, State.PRIMARY_DELETED, lambda: self._delete(pid, prim, primary), reason="deleted")
            elif p.reason != "delete_by_hand":
                summary.problems.add(
                    "promotion.delete-by-hand", f"pupil {self.pseudo(pid)}", "the primary source cannot delete"
                )

    # ----------------------------------------------------------------------------- effects

    def _out(self, *parts: str) -> Path:
        path = self.pc.output.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def _write_whole(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)  # whole or not at all: a killed run never leaves half a file

    def _notice(self, p: Pupil, pid: str, person: Person) -> None:
        html = render_notice(
            first_name=person.first_name,
            last_name=person.last_name,
            college_uai=p.college_uai,
            has_target=p.target_id is not None,
            promotion_date=self.pc.promotion_date,
            freeze_date=self.pc.freeze_date,
            deletion_date=self.pc.deletion_date,
            download_url=self.pc.download_url,
            opt_out_contact=self.pc.opt_out_contact,
            reference=self.pseudo(pid),
        )
        self._write_whole(self._out("notices", p.school_uai, f"{self.pseudo(pid)[2:]}.html"), html.encode("utf-8"))

    def _blob(self, primary: Connector, doc: Document | Production) -> bytes:
        with primary.open_blob(doc) as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != doc.sha256:
            raise ConfigError(
                f"the primary side's bytes of a document of {self.pseudo(doc.owner_id)} differ from its SHA-256"
            )
        return data

    def _zip(self, p: Pupil, pid: str, docs: list[Document | Production], primary: Connector) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            lines = []
            for d in sorted(docs, key=_doc_path):
                path = f"{self.pc.folder}/{_doc_path(d)}"
                info = zipfile.ZipInfo(path, date_time=(2000, 1, 1, 0, 0, 0))
                zf.writestr(info, self._blob(primary, d))
                lines.append(f"{d.sha256}  {path}")
            zf.writestr(zipfile.ZipInfo("SHA256SUMS", date_time=(2000, 1, 1, 0, 0, 0)), "\n".join(lines) + "\n")
        self._write_whole(self._out("exports", p.school_uai, f"{self.pseudo(pid)[2:]}.zip"), buf.getvalue())

    def _ops(self, p: Pupil, docs: list[Document | Production]) -> Iterator[tuple[Operation, Document | Production]]:
        assert p.target_id is not None
        for d in sorted(docs, key=_doc_path):
            record = Document(
                owner_id=p.target_id,
                path=f"{self.pc.folder}/{_doc_path(d)}",
                sha256=d.sha256,
                size=d.size,
                media_type=d.media_type if isinstance(d, Document) else d.format,
                modified=d.modified if isinstance(d, Document) else None,
            )
            op_id = str(uuid.uuid5(_NS, f"{p.key}|{p.target_id}|{record.path}"))
            yield Operation(op_id, Action.CREATE, RecordKind.DOCUMENT, record.key, record), d

    def _import(
        self, p: Pupil, pid: str, docs: list[Document | Production], primary: Connector, target: Connector
    ) -> None:
        for op, src in self._ops(p, docs):
            target.write_document(op, io.BytesIO(self._blob(primary, src)))

    def _verify(self, p: Pupil, target: Connector) -> int:
        """Files on the target whose SHA-256 is not what was exported (all, when the target cannot be read)."""
        files = p.detail.get("files", [])
        if Capability.READ_BACK not in implemented_capabilities(type(target)):
            return 0  # nothing to read back: the SHA-256 of every blob sent was checked when read
        have = {d.key: d.sha256 for d in target.read_documents() if isinstance(d, Document)}
        bad = 0
        for f in files:
            key = f"{p.target_id}|{self.pc.folder}/{f['path']}"
            if have.get(key) != f["sha256"]:
                bad += 1
        return bad

    def _verify_pass(
        self,
        target: Connector,
        summary: RunSummary,
        prim: Side,
        primary: Connector,
        go: Callable[..., None],
    ) -> None:
        for p in self.store.pupils(self.pc.school_year).values():
            if p.state is not State.IMPORTED:
                continue
            bad = self._verify(p, target)
            if bad:
                where = f"pupil {self.pseudo(p.key.split('|', 1)[1])}"
                summary.problems.add("promotion.verify-failed", where, f"{bad} file(s) differ")
                continue
            summary.transitions["imported->verified"] = summary.transitions.get("imported->verified", 0) + 1
            self.store.transition(p, State.VERIFIED, reason="sha256")
            # then on as far as the date allows, as a pupil verified in an earlier run goes
            self._grace(p, p.key.split("|", 1)[1], prim, primary, go, summary)

    def _delete(self, pid: str, prim: Side, primary: Connector) -> None:
        for d in prim.documents.get(pid, []):
            primary.delete(d.kind, d.key)
        primary.delete(RecordKind.PERSON, pid)
