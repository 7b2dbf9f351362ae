"""Each edge case of the issue's item 6, plus matching by INE and by names, late INE and arrivals."""

from __future__ import annotations

import json

from ent_migrate.fixtures.promotion import PRIVATE, PROJECT_COLLEGES, PromotionFixture, write_promotion_fixture
from ent_migrate.promotion import PromotionStore
from tests.promotion.conftest import Runner, states


def _target_docs(promo: PromotionFixture) -> dict[str, str]:
    docs = {}
    for line in promo.target.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        record = entry.get("record") or {}
        if "path" in record and "owner_id" in record:
            docs[f"{record['owner_id']}|{record['path']}"] = record["sha256"]
    return docs


def test_ine_and_names_matching_before_the_promotion_date(run: Runner, store: PromotionStore) -> None:
    run("2027-06-01")
    s = states(store)
    assert s["e01"] == ("notified", PROJECT_COLLEGES[0], "notice")
    # e03 has no INE on the primary side: names + birth date + school of origin
    assert s["e03"][0:2] == ("notified", PROJECT_COLLEGES[1])
    e03 = store.pupils(2026)["2026|e03"]
    assert (e03.detail["match"]["method"], e03.score) == (
        "names",
        105,
    )  # the shared score in hundredths: 0.3 + 0.3 + 0.35 + 0.1
    assert e03.detail["match"]["matched"] == ["last_name", "first_name", "birth_date", "school_of_origin"]
    assert store.pupils(2026)["2026|e01"].detail["match"]["method"] == "ine"


def test_twins_go_to_review_never_promoted(run: Runner, store: PromotionStore, promo: PromotionFixture) -> None:
    run("2027-06-01")
    run("2027-07-05")
    s = states(store)
    assert s["e08"] == ("unmatched", None, "review")
    assert s["e09"] == ("unmatched", None, "review")
    # the explanation says why: the twin's own 6e record and the sibling's both reach the review band
    twin = store.pupils(2026)["2026|e08"].detail["match"]
    assert (twin["decision"], twin["candidates"]) == ("review", 2)
    assert twin["matched"] == ["last_name", "first_name", "birth_date", "school_of_origin"]
    assert not any(k.startswith(("c08|", "c09|")) for k in _target_docs(promo))


def test_repeater_left_france_home_schooling_not_promoted(run: Runner, store: PromotionStore) -> None:
    run("2027-06-01")
    run("2027-12-01")
    s = states(store)
    assert s["e05"] == ("unmatched", None, "repeat")
    assert s["e06"] == ("unmatched", None, "left_france")


def test_private_college_gets_a_zip_and_deletion_on_schedule(
    run: Runner, store: PromotionStore, promo: PromotionFixture
) -> None:
    run("2027-06-01")
    run("2027-07-05")
    p = store.pupils(2026)["2026|e04"]
    assert (p.state.value, p.college_uai, p.target_id) == ("exported", PRIVATE, None)
    zips = list((promo.root / "promotion-out" / "exports" / p.school_uai).glob("*.zip"))
    assert zips
    run("2027-09-02")
    assert states(store)["e04"][0] == "primary_frozen"
    run("2027-10-02")
    assert states(store)["e04"][0] == "primary_deleted"
    primary = promo.primary.read_text(encoding="utf-8")
    assert '"op": "delete"' in primary or '"delete"' in primary


def test_appeal_retargets_before_import(run: Runner, store: PromotionStore, promo: PromotionFixture) -> None:
    run("2027-06-01")
    assert states(store)["e07"][1] == PROJECT_COLLEGES[0]
    write_promotion_fixture(promo.root, appeal=True, store_prefix=promo.root.parent.name)
    run("2027-06-15")
    assert states(store)["e07"] == ("notified", PROJECT_COLLEGES[1], "notice")
    run("2027-07-05")
    docs = _target_docs(promo)
    assert any(k.startswith("c07|Mon école primaire/") for k in docs)


def test_late_ine_rematched_on_a_later_run(run: Runner, store: PromotionStore, promo: PromotionFixture) -> None:
    write_promotion_fixture(promo.root, late=True, store_prefix=promo.root.parent.name)
    run("2027-06-01")
    assert states(store)["e11"] == ("unmatched", None, "not_found")
    write_promotion_fixture(promo.root, late=False, store_prefix=promo.root.parent.name)
    run("2027-06-20")
    assert states(store)["e11"][0:2] == ("notified", PROJECT_COLLEGES[1])


def test_mid_year_arrival_is_detected(run: Runner, store: PromotionStore, promo: PromotionFixture) -> None:
    write_promotion_fixture(promo.root, arrival=False, store_prefix=promo.root.parent.name)
    run("2027-03-01")
    assert "e10" not in states(store)
    write_promotion_fixture(promo.root, arrival=True, store_prefix=promo.root.parent.name)
    run("2027-06-01")
    assert states(store)["e10"][0] == "notified"


def test_documents_land_under_mon_ecole_primaire_with_their_sha256(
    run: Runner, store: PromotionStore, promo: PromotionFixture
) -> None:
    run("2027-06-01")
    run("2027-07-05")
    p = store.pupils(2026)["2026|e01"]
    assert p.state.value == "verified"
    docs = _target_docs(promo)
    mine = {k: v for k, v in docs.items() if k.startswith("c01|")}
    assert set(mine) == {f"c01|Mon école primaire/{f['path']}" for f in p.detail["files"]}
    assert all(mine[f"c01|Mon école primaire/{f['path']}"] == f["sha256"] for f in p.detail["files"])


def test_opt_out_moves_nothing(run: Runner, store: PromotionStore, promo: PromotionFixture) -> None:
    run("2027-06-01")
    assert store.set_opt_out("2026|e12")
    run("2027-07-05")
    assert states(store)["e12"][0] == "opted_out"
    assert not any(k.startswith("c12|") for k in _target_docs(promo))
    run("2027-10-02")
    assert states(store)["e12"][0] == "primary_deleted"


def test_plan_writes_nothing(run: Runner, store: PromotionStore) -> None:
    summary = run("2027-07-05", dry_run=True)
    assert summary.transitions["detected->matched"] == 8
    assert store.pupils(2026) == {}
