"""The identities API on both back-ends: what reconcile reads back for a batch's blocking keys."""

from __future__ import annotations

from sqlalchemy import Engine

from ent_migrate.state import StateStore, upgrade


def test_candidates_by_shared_blocking_keys(engine: Engine) -> None:
    upgrade(engine)
    identities = StateStore(engine).identities
    identities.add(
        "aaf", [("p1", "p1", "student", None), ("p2", "p2", "student", None), ("p3", "p3", "teacher", None)], {}
    )
    facts = {"last_name": "Martin", "first_name": "Léa", "birth_date": "2012-03-04"}
    identities.add_facts(
        {
            "p1": (facts, ("martin|lea|2012-03-04", "ine|1")),  # two keys a batch shares: one candidate
            "p2": ({**facts, "first_name": "Lena"}, ("martin|lena|2012-03-04",)),
            "p3": ({**facts, "last_name": "Durand"}, ("durand|lea|2012-03-04",)),
        }
    )
    # PostgreSQL has no equality for json: the query must not need one (it had a DISTINCT over it).
    found = identities.candidates(["martin|lea|2012-03-04", "ine|1", "martin|lena|2012-03-04"])
    assert found == {"p1": facts, "p2": {**facts, "first_name": "Lena"}}
    assert identities.candidates(["nobody"]) == {}
