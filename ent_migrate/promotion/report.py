"""``promote status`` and ``promote report``: counts per state per school, deadlines, and the French
reports per école and per collège, with pupils named only by HMAC pseudonyms."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ent_migrate.privacy import Pseudonymizer
from ent_migrate.promotion.config import PromotionConfig
from ent_migrate.promotion.engine import PROBLEMS_FILE
from ent_migrate.promotion.states import ORDER
from ent_migrate.promotion.store import PromotionStore

__all__ = ["WHY_MISSING", "build_report", "status"]

WHY_MISSING: dict[str, str] = {
    "review": "correspondance ambiguë (jumeaux, homonymes) : à vérifier à la main",
    "not_found": "introuvable dans SIECLE (INE absent ou tardif) : nouvel essai au prochain passage",
    "repeat": "maintien en CM2 : pas de passage",
    "left_france": "départ à l'étranger : pas de passage",
    "home_schooling": "instruction en famille : pas de passage",
    "opt_out": "opposition de la famille",
    "no_target": "collège hors projet ou privé : archive proposée à la famille",
}


def _explained(detail: dict[str, Any]) -> dict[str, Any] | None:
    """The matching's explanation as stored (key names, score, candidates count): no personal data."""
    match = detail.get("match")
    return dict(match) if isinstance(match, dict) else None


def status(store: PromotionStore, pc: PromotionConfig, today: dt.date, pseudo: Pseudonymizer) -> dict[str, Any]:
    counts = store.counts(pc.school_year)
    pupils = {
        pseudo(p.key.split("|", 1)[1]): {
            "school": p.school_uai,
            "state": p.state.value,
            "reason": p.reason,
            "college": p.college_uai,
            "match": _explained(p.detail),
        }
        for p in store.pupils(pc.school_year).values()
    }
    totals = {s.value: sum(c.get(s.value, 0) for c in counts.values()) for s in ORDER}
    return {
        "school_year": pc.school_year,
        "today": today.isoformat(),
        "schools": {uai: {s.value: c.get(s.value, 0) for s in ORDER} for uai, c in sorted(counts.items())},
        "totals": totals,
        "deadlines": {
            "notices_before": pc.promotion_date.isoformat(),
            "primary_read_only": pc.freeze_date.isoformat(),
            "primary_deleted_by": pc.deletion_date.isoformat(),
            "days_to_deletion": (pc.deletion_date - today).days,
        },
        "unfinished_transitions": store.intents_left(),
        "pupils": dict(sorted(pupils.items())),
    }


def build_report(store: PromotionStore, pc: PromotionConfig, pseudo: Pseudonymizer) -> dict[str, Any]:
    ecoles: dict[str, dict[str, Any]] = {}
    colleges: dict[str, dict[str, Any]] = {}
    for p in store.pupils(pc.school_year).values():
        ref = pseudo(p.key.split("|", 1)[1])
        e = ecoles.setdefault(
            p.school_uai, {"effectifs_par_etat": {}, "non_apparies": 0, "oppositions": 0, "absents": []}
        )
        e["effectifs_par_etat"][p.state.value] = e["effectifs_par_etat"].get(p.state.value, 0) + 1
        e["non_apparies"] += p.state.value == "unmatched"
        e["oppositions"] += p.state.value == "opted_out"
        why = p.reason if p.state.value in ("unmatched", "opted_out") else None
        if p.college_uai is not None and p.target_id is None and p.state.value not in ("unmatched",):
            why = "no_target"
        if why is not None:
            e["absents"].append(
                {
                    "eleve": ref,
                    "etat": p.state.value,
                    "pourquoi": WHY_MISSING.get(why, why),
                    "appariement": _explained(p.detail),
                }
            )
        if p.college_uai is not None:
            c = colleges.setdefault(
                p.college_uai, {"arrivees": 0, "courriels": 0, "responsables_lies": 0, "eleves": []}
            )
            c["arrivees"] += 1
            moved = p.target_id is not None
            mail = p.detail.get("mail", []) if moved and p.detail.get("mail_to") == "ent" else []
            guardians = p.detail.get("guardians", {})
            c["courriels"] += len(mail)
            c["responsables_lies"] += guardians.get("linked", 0)
            c["eleves"].append(
                {
                    "eleve": ref,
                    "etat": p.state.value,
                    "appariement": _explained(p.detail),
                    "fichiers": [
                        {"chemin": f["path"], "sha256": f["sha256"], "taille": f["size"]}
                        | ({"lecture_seule": True} if f.get("read_only") else {})
                        for f in p.detail.get("files", [])
                    ]
                    if moved
                    else [],
                    # the mail under École/ on the ENT (in the family's zip when the ENT takes none)
                    "courriels": [{"dossier": m["folder"], "sha256": m["sha256"], "taille": m["size"]} for m in mail],
                    "courriels_dans_l_archive": len(p.detail.get("mail", [])) - len(mail),
                    "responsables": {
                        "lies": guardians.get("linked", 0),
                        "non_trouves": guardians.get("unlinked", 0),
                    },
                }
            )
    return {
        "annee_scolaire": f"{pc.school_year}-{pc.school_year + 1}",
        "cle_pseudonymes": pseudo.key_id,
        "ecoles": dict(sorted(ecoles.items())),
        "colleges": dict(sorted(colleges.items())),
        "problemes_dernier_passage": _last_problems(pc),
    }


def _last_problems(pc: PromotionConfig) -> list[dict[str, Any]]:
    """The problems of the last apply (ent_migrate/problems.py codes, pupils by pseudonym)."""
    try:
        data = json.loads((pc.output / PROBLEMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # no apply yet (or a file damaged by hand): the next apply rewrites it
    return [p for p in data if isinstance(p, dict)] if isinstance(data, list) else []
