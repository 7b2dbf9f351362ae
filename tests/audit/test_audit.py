"""``ent-migrate audit``: a hand-back that passes every promised clause, then hand-backs that fail each in a
known way; the signed report (verify-signature refuses any change); no personal data in it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ent_migrate.audit.checks_delivery import add_months
from ent_migrate.cli.app import app
from ent_migrate.errors import ConfigError
from ent_migrate.fixtures.generator import iter_records
from ent_migrate.model import Document, Guardianship, Message, Person, Profile
from tests.audit.conftest import ACCOUNTS, PASSING_CLAUSES, SEED, Handback, Items

runner = CliRunner()


def run_audit(hb: Handback, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["audit", "-c", str(hb.config), "--clauses", str(hb.clauses), "--json", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def refused(result: Any, message: str) -> None:
    """A usage error: main() prints it and exits 2 (CliRunner hands us the exception main() would catch)."""
    assert isinstance(result.exception, ConfigError), result.output
    assert result.exception.exit_code == 2
    assert message in str(result.exception)


def clause(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["clauses"] if c["clause"] == name)


def test_a_complete_handback_meets_every_promised_clause(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback()
    code, doc = run_audit(hb)
    assert doc["unmet"] == [], [(c["clause"], c["verdict"], c["why"]) for c in doc["clauses"] if not c["met"]]
    assert code == 0
    for name in doc["promised"]:
        assert clause(doc, name)["verdict"] == "conforme"
    assert len(doc["clauses"]) == 19
    assert doc["destruction_deadline"] == "2026-12-15"
    # every input is hashed: the clause file, the config, the PV and each file of each source
    paths = {i["path"] for i in doc["inputs"]}
    assert {"clauses/cctp.toml", "config/migration.toml", "pv/pv.pdf"} <= paths
    assert sum(p.startswith("source/handback/") for p in paths) > 10
    assert sum(p.startswith("source/aaf2d/") for p in paths) >= 4
    folder = hb.root / "reports" / "audit"
    assert sorted(p.name for p in folder.iterdir()) == [
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "audit-report.csv",
        "audit-report.html",
        "audit-report.json",
    ]
    html = (folder / "audit-report.html").read_text(encoding="utf-8")
    assert "Audit de réversibilité" in html
    assert html.count("<tr>") >= 19
    assert (folder / "audit-report.csv").read_text(encoding="utf-8").count("\n") == 20


def test_the_report_holds_no_personal_data(make_handback: Callable[..., Handback]) -> None:
    people = [r for r, _ in iter_records(ACCOUNTS, SEED) if isinstance(r, Person)]
    hb = make_handback()
    run_audit(hb)
    for path in (hb.root / "reports" / "audit").iterdir():
        text = path.read_text(encoding="utf-8", errors="replace")
        for person in people:
            for value in (
                person.id,
                person.login,
                person.ine,
                *person.emails,
                f"{person.first_name} {person.last_name}",
            ):
                assert not value or value not in text, (path.name, "personal data in the report")


def test_verify_signature_accepts_the_report_and_refuses_any_change(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback()
    run_audit(hb)
    folder = hb.root / "reports" / "audit"
    ok = runner.invoke(app, ["audit", "verify-signature", str(folder), "--public-key", str(hb.public_key)])
    assert ok.exit_code == 0, ok.output
    report = folder / "audit-report.json"
    report.write_text(report.read_text(encoding="utf-8").replace("conforme", "CONFORME", 1), encoding="utf-8")
    bad = runner.invoke(app, ["audit", "verify-signature", str(folder), "--public-key", str(hb.public_key)])
    refused(bad, "audit-report.json was changed after the report was signed")
    sums = folder / "SHA256SUMS"
    sums.write_text(sums.read_text(encoding="ascii") + "\n", encoding="ascii")
    bad = runner.invoke(app, ["audit", "verify-signature", str(folder), "--public-key", str(hb.public_key)])
    refused(bad, "does not match")


def test_a_signing_key_other_users_can_read_is_refused(make_handback: Callable[..., Handback]) -> None:
    # Whoever can read the controller's key can sign an audit in its name: refused as ssh would.
    hb = make_handback()
    key = hb.root / "controller.key"
    key.chmod(0o640)
    result = runner.invoke(app, ["audit", "-c", str(hb.config), "--clauses", str(hb.clauses), "--json"])
    refused(result, f"the signing key {key} can be read by other users (mode 0640)")
    assert f"chmod 600 {key}" in str(result.exception)
    assert not (hb.root / "reports" / "audit").exists()  # refused before any work
    key.chmod(0o600)
    code, _ = run_audit(hb)
    assert code == 0
    assert (hb.root / "reports" / "audit" / "SHA256SUMS.sig").exists()


def _drop_some_students(items: Items) -> Items:
    dropped = 0
    for record, blob in items:
        if isinstance(record, Person) and record.profile is Profile.STUDENT and dropped < 5:
            dropped += 1
            continue
        yield record, blob


def test_r05_r07_accounts_missing_against_the_academie_files(make_handback: Callable[..., Handback]) -> None:
    code, doc = run_audit(make_handback(_drop_some_students))
    assert code == 1
    r05 = clause(doc, "R05")
    assert r05["verdict"] == "partiel"
    assert r05["evidence"]["ecarts_avec_fichiers_academiques"]
    r07 = clause(doc, "R07")  # their memberships and guardianships now point at nobody
    assert r07["verdict"] == "partiel"
    assert r07["evidence"]["references_non_resolues"] > 0
    assert all(f.startswith("p:") for f in r07["failing"])
    assert {"R05", "R07"} <= set(doc["unmet"])


def _duplicate_login_and_inactive(items: Items) -> Items:
    seen = 0
    for record, blob in items:
        if isinstance(record, Person):
            if seen in (0, 3):
                record = dataclasses.replace(record, login="same.login")
            elif seen == 4:
                record = dataclasses.replace(record, active=False)
            seen += 1
        yield record, blob


def test_r05_duplicate_keys_and_people_gone_are_flagged(make_handback: Callable[..., Handback]) -> None:
    _code, doc = run_audit(make_handback(_duplicate_login_and_inactive))
    r05 = clause(doc, "R05")
    assert r05["verdict"] == "partiel"
    assert r05["evidence"]["logins_en_double"] == 1
    assert r05["evidence"]["comptes_inactifs_a_purger"] == 1


def _orphan_guardianship(items: Items) -> Items:
    for record, blob in items:
        if isinstance(record, Guardianship):
            yield dataclasses.replace(record, guardian_id="nobody-there"), blob
            yield from items
            return
        yield record, blob


def test_r07_a_relation_to_nobody(make_handback: Callable[..., Handback]) -> None:
    _code, doc = run_audit(make_handback(_orphan_guardianship))
    assert clause(doc, "R07")["evidence"]["references_non_resolues"] == 1
    assert clause(doc, "R07")["verdict"] == "partiel"


def _duplicate_message_id(items: Items) -> Items:
    first: Message | None = None
    for record, blob in items:
        if isinstance(record, Message):
            if first is None:
                first = record
            elif record.owner_id == first.owner_id and record.mailbox != first.mailbox:
                record = dataclasses.replace(record, message_id=first.message_id)
        yield record, blob


def test_r08_duplicate_message_ids(make_handback: Callable[..., Handback]) -> None:
    _code, doc = run_audit(make_handback(_duplicate_message_id))
    r08 = clause(doc, "R08")
    assert r08["verdict"] == "partiel"
    assert r08["evidence"]["message_id_en_double"] >= 1


def _mislabelled_document(items: Items) -> Items:
    done = False
    for record, blob in items:
        if isinstance(record, Document) and not done and blob is not None:
            done = True
            media = "image/png" if not blob.startswith(b"\x89PNG") else "application/pdf"
            record = dataclasses.replace(record, media_type=media)
            blob = b"%PDF-1.7\n" + blob if media == "image/png" else blob
            import hashlib

            record = dataclasses.replace(record, sha256=hashlib.sha256(blob).hexdigest(), size=len(blob))
        yield record, blob


def test_r09_a_document_whose_bytes_are_not_its_declared_type(make_handback: Callable[..., Handback]) -> None:
    _code, doc = run_audit(make_handback(_mislabelled_document))
    r09 = clause(doc, "R09")
    assert r09["verdict"] == "partiel"
    assert r09["evidence"]["type_mime_different"] == 1


def _no_mail(items: Items) -> Items:
    return ((r, b) for r, b in items if not isinstance(r, Message))


def test_r08_r16_a_promised_module_missing(make_handback: Callable[..., Handback]) -> None:
    code, doc = run_audit(make_handback(_no_mail))
    assert code == 1
    assert clause(doc, "R08")["verdict"] == "non conforme"
    assert not clause(doc, "R08")["delivered"]
    r16 = clause(doc, "R16")
    assert r16["verdict"] == "partiel"
    assert r16["failing"] == ["mail"]


def test_r01_a_package_altered_after_its_manifest(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback()
    records = sorted((hb.root / "pkg" / "records").iterdir())
    target = records[0]
    target.write_bytes(target.read_bytes() + b"\n")
    code, doc = run_audit(hb)
    assert code == 1
    assert clause(doc, "R01")["verdict"] == "non conforme"


@pytest.mark.parametrize(
    ("edit", "clause_name", "verdict"),
    [
        (("delivery = 2026-09-15", "delivery = 2026-11-15"), "R03", "non conforme"),
        (("retrieval_window_days = 30", "retrieval_window_days = 10"), "R03", "partiel"),
        (("destroyed = 2026-11-30", "destroyed = 2027-01-30"), "R19", "non conforme"),
        # returned long ago, so the deadline has passed whatever today is
        (('returned = 2026-09-15\npv = "pv.pdf"', 'returned = 2020-01-15\npv = "absent.pdf"'), "R19", "non conforme"),
        (("destroyed = 2026-11-30", f'pv_sha256 = "{"0" * 64}"'), "R19", "non conforme"),
        (('"workspace"]', '"workspace", "calendar"]'), "R16", "partiel"),
    ],
)
def test_dates_scope_and_destruction(
    make_handback: Callable[..., Handback], edit: tuple[str, str], clause_name: str, verdict: str
) -> None:
    hb = make_handback()
    assert edit[0] in PASSING_CLAUSES
    hb.write_clauses(PASSING_CLAUSES.replace(*edit))
    code, doc = run_audit(hb)
    assert code == 1
    assert clause(doc, clause_name)["verdict"] == verdict
    assert doc["unmet"] == [clause_name]


def test_a_clause_not_promised_never_fails_the_audit(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback(_no_mail)
    hb.write_clauses(PASSING_CLAUSES.replace('"R08", ', "").replace(', "mail"', ""))
    code, doc = run_audit(hb)
    assert clause(doc, "R08")["verdict"] == "non conforme"
    assert clause(doc, "R08")["met"]
    assert code == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[contract]\nend = 2026-08-31\nsurprise = 1\n", "cctp.toml:3: unknown key 'surprise'"),
        ('[clauses]\npromised = ["R01", "R42"]\n', "cctp.toml:2: unknown clause(s) R42"),
        ('[contract]\n\nend = "soon"\n', "cctp.toml:3: [contract] end must be a date"),
        ("[contract]\nretrieval_window_days = true\n", "retrieval_window_days must be a int"),
        ("[sla]\n", "unknown section [sla]"),
        ("[contract\n", "cctp.toml"),
    ],
)
def test_a_bad_clause_file_is_refused_with_file_and_line(
    make_handback: Callable[..., Handback], text: str, message: str
) -> None:
    hb = make_handback()
    hb.write_clauses(text)
    result = runner.invoke(app, ["audit", "-c", str(hb.config), "--clauses", str(hb.clauses)])
    refused(result, message)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2026, 9, 15), 3, dt.date(2026, 12, 15)),
        (dt.date(2026, 11, 30), 3, dt.date(2027, 2, 28)),
        (dt.date(2027, 11, 30), 3, dt.date(2028, 2, 29)),
        (dt.date(2026, 5, 31), 3, dt.date(2026, 8, 31)),
    ],
)
def test_destruction_deadline_is_return_plus_three_calendar_months(
    day: dt.date, months: int, expected: dt.date
) -> None:
    assert add_months(day, months) == expected


def test_the_example_clause_file_loads() -> None:
    from ent_migrate.audit.clauses import load_clauses

    spec = load_clauses(Path(__file__).parents[2] / "docs" / "cctp.example.toml")
    assert spec.promised
    assert spec.contract_end is not None


def test_an_audit_with_a_state_store_is_recorded_for_status(make_handback: Callable[..., Handback]) -> None:
    from ent_migrate.audit.state import latest_audit
    from ent_migrate.state.store import make_engine, upgrade

    hb = make_handback()
    hb.write_clauses(PASSING_CLAUSES.replace("destroyed = 2026-11-30\n", ""))
    url = f"sqlite:///{hb.root / 'state.db'}"
    engine = make_engine(url)
    upgrade(engine)
    result = runner.invoke(app, ["--state", url, "audit", "-c", str(hb.config), "--clauses", str(hb.clauses), "--json"])
    assert result.exit_code == 1  # R19: the PV is in, but not the destruction date
    recorded = latest_audit(engine, today=dt.date(2026, 12, 5))
    engine.dispose()
    assert recorded is not None
    assert recorded["destruction_deadline"] == "2026-12-15"
    assert recorded["days_left"] == 10
    assert recorded["unmet"] == ["R19"]
    sums = (hb.root / "reports" / "audit" / "SHA256SUMS").read_bytes()
    import hashlib

    assert recorded["report_digest"] == hashlib.sha256(sums).hexdigest()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("$2b$12$" + "a" * 53, "bcrypt"),
        ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "argon2id"),
        ("$pbkdf2-sha256$29000$c2FsdA$aGFzaA", "pbkdf2"),
        ("pbkdf2_sha256$600000$salt$hash", "pbkdf2"),
        ("{SSHA}c2FsdGVkaGFzaA==", "ldap-scheme"),
        ("Soleil2026!", "clear"),
        ("$2b$12$tooshort", "clear"),
        ("5f4dcc3b5aa765d61d8327deb882cf99", "clear"),  # an unsalted MD5 is no documented algorithm
    ],
)
def test_r06_credentials_are_recognised_or_rejected(value: str, kind: str) -> None:
    from ent_migrate.audit.credentials import classify

    assert classify(value) == kind


def test_r06_a_clear_text_password_file_in_the_handback(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback()
    (hb.root / "pkg" / "comptes.csv").write_text(
        "login;mot_de_passe\nuser.one;Soleil2026!\nuser.two;$2b$12$" + "a" * 53 + "\n", encoding="utf-8"
    )
    code, doc = run_audit(hb)
    assert code == 1
    r06 = clause(doc, "R06")
    assert r06["verdict"] == "non conforme"
    assert r06["evidence"]["valeurs_par_type"] == {"bcrypt": 1, "clear": 1}
    assert r06["failing"]
    assert all(f.startswith("source/handback/p:") for f in r06["failing"])
    assert "Soleil2026" not in json.dumps(doc)
    assert clause(doc, "R01")["verdict"] == "non conforme"  # a file the manifest does not list
