"""One promotion run: read both sides, match, then move each pupil one step further when due.

``run(dry_run=True)`` (``promote plan``) walks the same steps on copies and writes nothing; ``apply``
walks it first too (thresholds), then for real. Every effect is idempotent: documents are written
with deterministic op ids (uuid5), notices and zips are files rewritten whole, so a run killed at any
point and run again ends as an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import signal
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ent_migrate.config import Config
from ent_migrate.contract import Capability, Connector, Operation, Role, implemented_capabilities
from ent_migrate.errors import ConfigError, TerminalError, TransientError
from ent_migrate.model import (
    Document,
    Guardianship,
    Mailbox,
    Message,
    Person,
    Production,
    Profile,
    RecordKind,
)
from ent_migrate.outcomes import Action
from ent_migrate.privacy import Pseudonymizer
from ent_migrate.privatefile import write_private
from ent_migrate.problems import Problems
from ent_migrate.promotion.config import PromotionConfig
from ent_migrate.promotion.matching import Candidate, PromotionMatcher
from ent_migrate.promotion.moves import (
    eml_path,
    link_guardians,
    mail_folder,
    minimise_names,
)
from ent_migrate.promotion.notices import render_notice
from ent_migrate.promotion.sides import CM2, SIXTH, Side, doc_path, read_csv, read_side
from ent_migrate.promotion.states import State
from ent_migrate.promotion.store import PromotionStore, Pupil
from ent_migrate.registry import connector_class, open_connector, parse_spec

__all__ = ["CRASH_ENV", "NO_PROMOTION", "PROBLEMS_FILE", "Promoter", "RunSummary", "Side"]

CRASH_ENV = "ENT_MIGRATE_PROMOTION_KILL_AFTER"  # tests: SIGKILL self after N effects (a real kill -9)
PROBLEMS_FILE = "problemes-dernier-passage.json"  # under the output folder, rewritten by every apply
NO_PROMOTION = frozenset({"repeat", "left_france", "home_schooling"})
_DECISIONS = NO_PROMOTION | {"promoted", "private"}
_NS = uuid.UUID("6f0d1c1e-5c1b-4a43-9d8e-70726f6d6f74")


@dataclasses.dataclass(slots=True)
class RunSummary:
    transitions: dict[str, int] = dataclasses.field(default_factory=dict)
    detected: dict[str, int] = dataclasses.field(default_factory=dict)
    thresholds: list[str] = dataclasses.field(default_factory=list)
    #: codes of ent_migrate.problems: the sources' input problems (``primary: file:line``) and the
    #: promotion's own (promotion.*, each pupil named by its pseudonym)
    problems: Problems = dataclasses.field(default_factory=Problems)
    input_errors: int = 0  # error-level problems of the two sources: over [safety] max_input_errors, apply refuses


class Promoter:
    def __init__(
        self, config: Config, pc: PromotionConfig, store: PromotionStore, pseudo: Pseudonymizer, today: dt.date
    ) -> None:
        self.config, self.pc, self.store, self.pseudo, self.today = config, pc, store, pseudo, today
        self._effects = 0
        self._kill_after = int(os.environ.get(CRASH_ENV, "0") or 0)
        self._dry_run = True
        self._coll = Side()
        self._target_caps: frozenset[Capability] = frozenset()

    # ----------------------------------------------------------------------------- connectors

    def _open(self, role: str, name: str) -> Connector:
        _name, spec, options, where = self.config.endpoint(role, name)
        return open_connector(spec, options, where=where, role=Role(role))

    def _where(self, role: str, name: str) -> str:
        return self.config.endpoint(role, name)[3]

    def _decisions(self) -> dict[str, dict[str, str]]:
        rows = read_csv(self.pc.decisions, ("pupil_id", "decision"))
        for i, row in enumerate(rows, start=2):
            if row["decision"] not in _DECISIONS:
                raise ConfigError(
                    f"{self.pc.decisions}:{i}: unknown decision {row['decision']!r} "
                    f"(one of {', '.join(sorted(_DECISIONS))})"
                )
        return {r["pupil_id"]: r for r in rows}

    def _origins(self) -> dict[str, str]:
        return {r["person_id"]: r["uai"] for r in read_csv(self.pc.origins, ("person_id", "uai"))}

    # ----------------------------------------------------------------------------- the run

    def run(self, *, dry_run: bool) -> RunSummary:
        summary = RunSummary()
        with self._open("source", self.pc.primary) as primary, self._open("source", self.pc.college) as college:
            prim = read_side(primary, documents=True, where=self._where("source", self.pc.primary))
            coll = read_side(college, documents=False, where=self._where("source", self.pc.college))
            for side, conn in (("primary", primary), ("college", college)):
                for occ in conn.problems.occurrences():
                    summary.problems.add(occ.code, f"{side}: {occ.where}", occ.detail, occ.severity)
                summary.input_errors += conn.problems.errors
            self._coll = coll
            # what the target takes, known from its class, so a dry run decides as apply does
            self._target_caps = (
                implemented_capabilities(
                    connector_class(parse_spec(self.config.endpoint("target", self.pc.target)[1])[0])
                )
                if self.pc.target
                else frozenset()
            )
            if self.pc.target and Capability.DOCUMENTS not in self._target_caps:
                # refused before any pupil moves, rather than each import failing on its first document
                raise ConfigError(
                    f"{self._where('target', self.pc.target)}: this connector writes no documents, so the pupils' "
                    "work cannot move there; use one that does, or leave [promotion] target out (zips only)"
                )
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
        cm2 = {pid: uai for pid, (uai, level) in prim.level_of.items() if level in CM2 and pid in prim.people}
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
                if level in SIXTH and pid in coll.people and coll.people[pid].profile == Profile.STUDENT
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
            # the pupil's mail goes to the target when it takes mail, else into the zip as EML files
            to = "ent" if p.target_id is not None and Capability.MAIL in self._target_caps else "archive"
            mail = [
                {"folder": mail_folder(m.mailbox), "message_id": m.message_id, "sha256": m.sha256, "size": m.size}
                for m in sorted(prim.mail.get(pid, []), key=lambda m: (m.mailbox, m.message_id))
            ]
            self._item(
                summary,
                "promotion.export-failed",
                pid,
                lambda: go(
                    p,
                    State.EXPORTED,
                    lambda: self._zip(p, pid, prim, primary, mail_in_zip=to == "archive"),
                    reason="export",
                    detail={**p.detail, "files": self._files(pid, prim, primary), "mail": mail, "mail_to": to},
                ),
            )
        if p.state is State.EXPORTED and p.target_id is not None and target is not None:
            linked, unlinked = self._guardians(p, pid, prim, summary)
            self._item(
                summary,
                "promotion.import-failed",
                pid,
                lambda: go(
                    p,
                    State.IMPORTED,
                    lambda: self._import(p, pid, prim, primary, target, linked),
                    reason="import",
                    detail={**p.detail, "guardians": {"linked": len(linked), "unlinked": unlinked}},
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
        # whole or not at all (a killed run never leaves half a file), and 0600 from the first byte:
        # a notice names the pupil and the family
        write_private(path, [data])

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

    def _blob(self, primary: Connector, doc: Message | Document | Production) -> bytes:
        with primary.open_blob(doc) as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != doc.sha256:
            raise ConfigError(
                f"the primary side's bytes of a document of {self.pseudo(doc.owner_id)} differ from its SHA-256"
            )
        return data

    def _moving(self, pid: str, prim: Side) -> list[tuple[str, Document | Production, list[tuple[str, str]] | None]]:
        """Each file that moves, by path under the folder: its source and, for a collaborative work,
        the co-authors' (first, last) names to minimise in it (None for the pupil's own work)."""
        out: list[tuple[str, Document | Production, list[tuple[str, str]] | None]] = []
        for d in prim.documents.get(pid, []):
            owners = prim.shared.get((d.app, d.source_ref)) if isinstance(d, Production) else None
            names = None
            if owners is not None:
                people = [prim.people[o] for o in owners if o != pid and o in prim.people]
                names = [(q.first_name, q.last_name) for q in people]
            out.append((doc_path(d, prim.shared), d, names))
        return sorted(out, key=lambda x: x[0])

    def _bytes(self, primary: Connector, src: Document | Production, names: list[tuple[str, str]] | None) -> bytes:
        data = self._blob(primary, src)  # the source's SHA-256 checked first, minimised after
        if names is None or not isinstance(src, Production):
            return data
        return minimise_names(data, src.format, names)

    def _files(self, pid: str, prim: Side, primary: Connector) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = []
        for path, d, names in self._moving(pid, prim):
            if names is None:
                files.append({"path": path, "sha256": d.sha256, "size": d.size})
            else:  # the minimised copy is what moves: its own SHA-256 is what verify expects
                data = self._bytes(primary, d, names)
                files.append({"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
                files[-1]["read_only"] = True
        return files

    def _zip(self, p: Pupil, pid: str, prim: Side, primary: Connector, *, mail_in_zip: bool) -> None:
        buf = io.BytesIO()
        stamp = (2000, 1, 1, 0, 0, 0)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            lines = []
            for rel, d, names in self._moving(pid, prim):
                path = f"{self.pc.folder}/{rel}"
                info = zipfile.ZipInfo(path, date_time=stamp)
                if names is not None:
                    info.external_attr = 0o100444 << 16  # a collaborative work: read-only once unzipped
                data = self._bytes(primary, d, names)
                zf.writestr(info, data)
                lines.append(f"{hashlib.sha256(data).hexdigest()}  {path}")
            if mail_in_zip:
                done: set[str] = set()
                for m in sorted(prim.mail.get(pid, []), key=lambda m: (m.mailbox, m.message_id)):
                    if (path := eml_path(m)) not in done:
                        done.add(path)
                        zf.writestr(zipfile.ZipInfo(path, date_time=stamp), self._blob(primary, m))
                        lines.append(f"{m.sha256}  {path}")
            zf.writestr(zipfile.ZipInfo("SHA256SUMS", date_time=stamp), "\n".join(lines) + "\n")
        self._write_whole(self._out("exports", p.school_uai, f"{self.pseudo(pid)[2:]}.zip"), buf.getvalue())

    def _op(self, p: Pupil, kind: RecordKind, record: Any) -> Operation:
        # deterministic: a re-made import sends the same op ids, which the target treats as upserts
        name = record.path if kind is RecordKind.DOCUMENT else f"{kind}|{record.key}"
        op_id = str(uuid.uuid5(_NS, f"{p.key}|{p.target_id}|{name}"))
        return Operation(op_id, Action.CREATE, kind, record.key, record)

    def _guardians(self, p: Pupil, pid: str, prim: Side, summary: RunSummary) -> tuple[list[Guardianship], int]:
        """The links to write (collège-side guardian → target pupil), never a new guardian account;
        the guardians not found are reported, by pseudonym."""
        assert p.target_id is not None
        coll = self._coll
        found = link_guardians(
            prim.guardians.get(pid, []),
            prim.people,
            [g.guardian_id for g in coll.guardians.get(p.target_id, [])],
            coll.people,
        )
        where = f"pupil {self.pseudo(pid)}"
        for gid, why in found.unlinked:
            summary.problems.add("promotion.guardian-not-found", f"{where}, guardian {self.pseudo(gid)}", why)
        links = [
            Guardianship(guardian_id=gid, student_id=p.target_id, legal_level=g.legal_level, kinship=g.kinship)
            for g, gid in found.linked
        ]
        if links and Capability.RELATIONS not in self._target_caps:
            summary.problems.add("promotion.guardian-by-hand", where, f"{len(links)} guardian link(s)")
            links = []
        return links, len(found.unlinked)

    def _import(
        self, p: Pupil, pid: str, prim: Side, primary: Connector, target: Connector, links: list[Guardianship]
    ) -> None:
        assert p.target_id is not None
        for rel, d, names in self._moving(pid, prim):
            data = self._bytes(primary, d, names)
            record = Document(
                owner_id=p.target_id,
                path=f"{self.pc.folder}/{rel}",
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                media_type=d.media_type if isinstance(d, Document) else d.format,
                modified=d.modified if isinstance(d, Document) else None,
            )
            target.write_document(self._op(p, RecordKind.DOCUMENT, record), io.BytesIO(data))
        for link in links:
            target.write_relation(self._op(p, RecordKind.GUARDIANSHIP, link))
        if p.detail.get("mail_to") != "ent":
            return
        messages = sorted(prim.mail.get(pid, []), key=lambda m: (m.mailbox, m.message_id))
        folders = {b.name for b in prim.mailboxes.get(pid, [])} | {m.mailbox for m in messages}
        for name in sorted(folders):
            box = Mailbox(owner_id=p.target_id, name=mail_folder(name))
            target.write_mail(self._op(p, RecordKind.MAILBOX, box), None)
        for m in messages:
            moved = dataclasses.replace(m, owner_id=p.target_id, mailbox=mail_folder(m.mailbox))
            target.write_mail(self._op(p, RecordKind.MESSAGE, moved), io.BytesIO(self._blob(primary, m)))

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
        if p.detail.get("mail_to") == "ent" and p.detail.get("mail"):
            got = {m.key: m.sha256 for m in target.read_mail() if isinstance(m, Message)}
            bad += sum(
                got.get(f"{p.target_id}|{m['folder']}|{m['message_id']}") != m["sha256"] for m in p.detail["mail"]
            )
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
