"""Clauses proven by the records themselves: R04–R13 and R15 (REVERSIBILITY.md §1)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from ent_migrate.audit.clauses import CLAUSES, ClauseSpec
from ent_migrate.audit.collect import Facts
from ent_migrate.audit.result import ClauseResult, Verdict

__all__ = ["FAILING_CAP", "record_checks", "result"]

#: pseudonyms listed per clause; the counts are always complete
FAILING_CAP = 50
_STANDARD_FOLDERS = frozenset({"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archives", "INBOX/Sent", "INBOX/Trash"})
_UAI = re.compile(r"^\d{7}[A-Z]$")  # assumed pattern, unverified (REVERSIBILITY.md R04)

Pseudo = Callable[[str], str]


def result(
    clause: str,
    spec: ClauseSpec,
    verdict: Verdict,
    why: str,
    *,
    delivered: bool = True,
    evidence: Mapping[str, object] | None = None,
    failing: Iterable[str] = (),
    pseudo: Pseudo | None = None,
) -> ClauseResult:
    keys = sorted({pseudo(k) if pseudo else k for k in failing})
    return ClauseResult(
        clause=clause,
        title=CLAUSES[clause],
        promised=clause in spec.promised,
        delivered=delivered,
        verdict=verdict,
        why=why,
        evidence=dict(evidence or {}),
        failing=keys[:FAILING_CAP],
    )


def _fails(bad: int, total: int) -> Verdict:
    if bad == 0:
        return Verdict.CONFORME
    return Verdict.NON_CONFORME if bad >= total else Verdict.PARTIEL


def _r04(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    if not f.uais:
        return result("R04", spec, Verdict.NON_CONFORME, "Aucune structure livrée.", delivered=False)
    bad = sorted(u for u in f.uais if not _UAI.match(u))
    evidence: dict[str, object] = {"structures": len(f.uais), "uai_invalides": len(bad), "groupes": len(f.groups)}
    if bad:
        # A UAI is a public school identifier, not personal data: named as is.
        return result(
            "R04", spec, Verdict.PARTIEL, f"{len(bad)} UAI hors du motif attendu.", evidence=evidence, failing=bad
        )
    if f.reference_uais:
        missing = sorted(f.reference_uais - f.uais)
        evidence["uai_attendus_absents"] = len(missing)
        if missing:
            return result(
                "R04",
                spec,
                _fails(len(missing), len(f.reference_uais)),
                f"{len(missing)} structure(s) des fichiers académiques absente(s).",
                evidence=evidence,
                failing=missing,
            )
        return result(
            "R04",
            spec,
            Verdict.CONFORME,
            "UAI valides ; structures conformes aux fichiers académiques.",
            evidence=evidence,
        )
    return result(
        "R04",
        spec,
        Verdict.CONFORME,
        "UAI valides (pas de fichier académique de référence configuré).",
        evidence=evidence,
    )


def _staff_merged(cells: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """Teachers and other staff as one "personnel" count per UAI: AAF PersEducNat does not separate them
    the way a vendor does (a teaching head of a primary school is either), only their total is comparable."""
    out: Counter[tuple[str, str]] = Counter()
    for (profile, uai), n in cells.items():
        out[("personnel" if profile in ("teacher", "staff") else profile, uai)] += n
    return out


def _r05(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    total = sum(f.person_ids.values())
    if not total:
        return result("R05", spec, Verdict.NON_CONFORME, "Aucun compte livré.", delivered=False)
    dup_ids = [k for k, n in f.person_ids.items() if n > 1]
    dup_logins = [k for k, n in f.logins.items() if n > 1]
    evidence: dict[str, object] = {
        "comptes": total,
        "identifiants_en_double": len(dup_ids),
        "logins_en_double": len(dup_logins),
        "comptes_inactifs_a_purger": len(f.inactive),
        "par_profil_et_uai": {f"{prof}|{uai}": n for (prof, uai), n in sorted(f.per_profile_uai.items())},
    }
    failing = dup_ids + dup_logins
    why = []
    if failing:
        why.append(f"{len(dup_ids)} identifiant(s) et {len(dup_logins)} login(s) en double")
    gaps: list[str] = []
    if f.reference_per_profile_uai:
        expected_cells, got_cells = _staff_merged(f.reference_per_profile_uai), _staff_merged(f.per_profile_uai)
        for cell, expected in sorted(expected_cells.items()):
            got = got_cells.get(cell, 0)
            if got < expected:  # more than expected is people gone, flagged below; fewer is a loss
                gaps.append(f"{cell[0]}|{cell[1]}: {got}/{expected}")
        evidence["ecarts_avec_fichiers_academiques"] = gaps
        if gaps:
            why.append(f"{len(gaps)} effectif(s) par profil et UAI inférieur(s) aux fichiers académiques")
    if f.inactive:
        why.append(f"{len(f.inactive)} compte(s) parti(s) depuis plus de 3 mois à purger (signalés)")
    verdict = Verdict.CONFORME if not failing and not gaps else Verdict.PARTIEL
    return result(
        "R05",
        spec,
        verdict,
        "; ".join(why) or "Clés uniques ; effectifs cohérents.",
        evidence=evidence,
        failing=failing + f.inactive,
        pseudo=p,
    )


def _r06(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    # Password-like fields of the hand-back's text files (credentials.py); the canonical model never
    # carries one. No credential at all is the CNIL-preferred "forced reset".
    scan = f.credentials
    evidence = {"valeurs_par_type": dict(sorted(scan.algorithms.items())), "fichiers_non_analyses": scan.skipped}
    clear = sum(scan.clear_files.values())
    if clear:
        return result(
            "R06",
            spec,
            Verdict.NON_CONFORME,
            f"{clear} mot(s) de passe en clair ou d'algorithme non documenté dans {len(scan.clear_files)} fichier(s).",
            evidence=evidence,
            failing=list(scan.clear_files),
        )
    if scan.algorithms:
        algorithms = ", ".join(sorted(k for k in scan.algorithms if k != "empty"))
        return result(
            "R06",
            spec,
            Verdict.CONFORME,
            f"Empreintes reconnues ({algorithms or 'aucune'}) ; aucun clair.",
            evidence=evidence,
        )
    return result(
        "R06", spec, Verdict.CONFORME, "Aucun mot de passe livré : réinitialisation forcée.", evidence=evidence
    )


def _r07(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    people = set(f.person_ids)
    bad_members = [
        f"{pid}|{uai}|{code}" for pid, uai, code in f.memberships if pid not in people or (uai, code) not in f.groups
    ]
    bad_guard = [f"{g}|{s}" for g, s in f.guardianships if g not in people or s not in people]
    bad_func = [f"{pid}|{uai}" for pid, uai in f.functions if pid not in people or uai not in f.uais]
    guarded = {s for _, s in f.guardianships}
    orphans = sorted(f.students - guarded)
    total = len(f.memberships) + len(f.guardianships) + len(f.functions)
    evidence = {
        "appartenances": len(f.memberships),
        "responsabilites": len(f.guardianships),
        "fonctions": len(f.functions),
        "references_non_resolues": len(bad_members) + len(bad_guard) + len(bad_func),
        "eleves_sans_responsable": len(orphans),
    }
    if not total:
        return result("R07", spec, Verdict.NON_CONFORME, "Aucune relation livrée.", delivered=False, evidence=evidence)
    bad = bad_members + bad_guard + bad_func
    why = f"{len(bad)} relation(s) pointant vers un compte, une structure ou un groupe absent"
    if orphans:
        why += f" ; {len(orphans)} élève(s) sans responsable (signalés)"
    return result("R07", spec, _fails(len(bad), total), why + ".", evidence=evidence, failing=bad, pseudo=p)


def _folders(f: Facts, p: Pseudo) -> dict[str, int]:
    """Messages per folder name; a user-made folder name can name a person, so it is pseudonymised."""
    out: dict[str, int] = {}
    for name, n in f.mail_folders.items():
        label = name if name in _STANDARD_FOLDERS else p(name)
        out[label] = out.get(label, 0) + n
    return dict(sorted(out.items()))


def _r08(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    total = sum(f.message_ids.values())
    if not total:
        return result("R08", spec, Verdict.NON_CONFORME, "Aucun message livré.", delivered=False)
    dups = [f"{o}|{m}" for (o, m), n in f.message_ids.items() if n > 1]
    # an attachment the vendor's message table names but the hand-back lacks (Edifice conversation)
    lost = _inventory_missing(f, {"conversation", "mail"})
    bad = f.unparsable_messages + dups + lost
    evidence = {
        "messages": total,
        "dossiers": _folders(f, p),
        "message_id_en_double": len(dups),
        "illisibles": len(f.unparsable_messages),
        "pieces_jointes_absentes": len(lost),
    }
    return result(
        "R08",
        spec,
        _fails(len(bad), total),
        f"{total} message(s) ; {len(f.unparsable_messages)} illisible(s), {len(dups)} Message-ID en double, "
        f"{len(lost)} pièce(s) jointe(s) absente(s).",
        evidence=evidence,
        failing=bad,
        pseudo=p,
    )


def _r09(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    total = sum(f.doc_count.values())
    if not total:
        return result("R09", spec, Verdict.NON_CONFORME, "Aucun document livré.", delivered=False)
    documents = [k for k in f.hash_mismatch + f.missing_blob + f.media_mismatch if k.count("|") == 1]
    documents += _inventory_missing(f, {"workspace", "documents"})  # a file the vendor's metadata names but lacks
    evidence = {
        "documents": total,
        "octets": sum(f.doc_bytes.values()),
        "proprietaires": len(f.doc_count),
        "empreinte_differente": len(f.hash_mismatch),
        "fichier_absent": len(f.missing_blob),
        "type_mime_different": len(f.media_mismatch),
        "references_sans_fichier": len(_inventory_missing(f, {"workspace", "documents"})),
    }
    return result(
        "R09",
        spec,
        _fails(len(documents), total),
        f"{total} document(s) ; {len(documents)} absent(s), altéré(s) ou d'un type différent de celui déclaré.",
        evidence=evidence,
        failing=documents,
        pseudo=p,
    )


def _inventory_missing(f: Facts, modules: set[str]) -> list[str]:
    return [key for inv in f.inventories for m in inv.modules if m.module in modules for key in m.missing]


def _productions(clause: str, apps: set[str], f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    count = sum(n for app, n in f.productions.items() if app in apps)
    missing = _inventory_missing(f, apps)
    unreadable = [k for k in f.unreadable_productions if k.split("|")[1] in apps]
    evidence = {
        "elements": count,
        "medias_absents": len(missing),
        "illisibles": len(unreadable),
        "par_application": {a: n for a, n in sorted(f.productions.items()) if a in apps},
    }
    if not count:
        return result(clause, spec, Verdict.NON_CONFORME, "Aucun élément livré.", delivered=False, evidence=evidence)
    bad = missing + unreadable
    return result(
        clause,
        spec,
        _fails(len(bad), count + len(missing)),
        f"{count} élément(s) ; {len(bad)} illisible(s) ou pointant vers un média absent.",
        evidence=evidence,
        failing=bad,
        pseudo=p,
    )


def _r12(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    count = sum(f.calendar_items.values())
    unreadable = sum(f.bad_calendar.values())
    evidence = {
        "par_format": dict(sorted(f.calendar_items.items())),
        "invalides": len(f.bad_calendar),
        "elements": f.calendar_entries,
        "elements_illisibles": unreadable,
    }
    if not count:
        return result("R12", spec, Verdict.NON_CONFORME, "Aucun agenda ni carnet d'adresses livré.", delivered=False)
    # each faulty file named by its owner's pseudonym and its module (the key holds ids, never a title)
    failing = [f"{p(key)} ({key.split('|')[1]}) : {n} illisible(s)" for key, n in f.bad_calendar.items()]
    return result(
        "R12",
        spec,
        _fails(len(f.bad_calendar), count),
        f"{count} fichier(s) iCalendar/vCard, {f.calendar_entries} élément(s) ; "
        f"{unreadable} élément(s) illisible(s) dans {len(f.bad_calendar)} fichier(s).",
        evidence=evidence,
        failing=failing,
    )


def _r13(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    declared = [m for inv in f.inventories for m in inv.modules if m.module == "shares"]
    if not declared:
        return result("R13", spec, Verdict.NON_VERIFIABLE, "Aucun export des droits et partages lu.", delivered=False)
    items = sum(m.items for m in declared)
    # a user principal resolves to an account the hand-back delivers (a record, or the owner of a user
    # archive); a group principal is counted, but entcore group ids have no counterpart in the model
    users = set(f.person_ids) | {inv.owner_id for inv in f.inventories if inv.owner_id}
    refs = [r for m in declared for r in m.references]
    unresolved = [r for r in refs if r.startswith("user:") and r[len("user:") :] not in users]
    unresolved += _inventory_missing(f, {"shares"})
    groups = sum(r.startswith("group:") for r in refs)
    return result(
        "R13",
        spec,
        _fails(len(unresolved), max(items, 1)),
        f"{items} partage(s) ; {len(unresolved)} bénéficiaire(s) non résolu(s).",
        evidence={
            "partages": items,
            "beneficiaires_utilisateurs": len(refs) - groups,
            "beneficiaires_groupes": groups,
            "non_resolus": len(unresolved),
        },
        failing=unresolved,
        pseudo=p,
    )


def _r15(f: Facts, spec: ClauseSpec, p: Pseudo) -> ClauseResult:
    codes = {
        code: n
        for s in f.sources
        for code, n in s.problems.items()
        if any(w in code for w in ("encoding", "utf", "date", "binary"))
    }
    bad = sum(codes.values()) + len(f.not_utf8)
    evidence = {"problemes": codes, "textes_non_utf8": len(f.not_utf8)}
    if bad:
        return result(
            "R15",
            spec,
            Verdict.PARTIEL,
            f"{bad} valeur(s) mal encodée(s) ou date(s) non ISO 8601.",
            evidence=evidence,
            failing=f.not_utf8,
            pseudo=p,
        )
    return result("R15", spec, Verdict.CONFORME, "Tout décode en UTF-8 ; dates ISO 8601.", evidence=evidence)


def record_checks(f: Facts, spec: ClauseSpec, p: Pseudo) -> list[ClauseResult]:
    return [
        _r04(f, spec, p),
        _r05(f, spec, p),
        _r06(f, spec, p),
        _r07(f, spec, p),
        _r08(f, spec, p),
        _r09(f, spec, p),
        _productions("R10", {"blog", "site", "wall", "timeline"}, f, spec, p),
        _productions("R11", {"pad", "wiki", "mindmap"}, f, spec, p),
        _r12(f, spec, p),
        _r13(f, spec, p),
        _r15(f, spec, p),
    ]
