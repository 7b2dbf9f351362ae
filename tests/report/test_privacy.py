"""No name, INE or e-mail reaches a report file; pseudonyms are stable and keyed."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ent_migrate.privacy import Pseudonymizer
from ent_migrate.report import ReportItem, write_reports
from ent_migrate.report.scrub import _CLEAR_PART, REDACTED, _pseudonymize_key, scrub_reason, scrub_text
from tests.report._helpers import make_data

NAME = "Dupont-Léger"
GIVEN = "Anaïs"
INE = "070123456AB"
EMAIL = "anais.dupont@example.org"
SECRETS = [NAME, GIVEN, INE, EMAIL, "dupont", "example.org"]


def _leaky_items() -> list[ReportItem]:
    return [
        ReportItem("person", f"ine:{INE}", "+", f"missing on target: {GIVEN} {NAME} <{EMAIL}>", "0750001A", "student"),
        ReportItem("person", f"email:{EMAIL}", "*", f"fields differ: emails ({EMAIL}), sn {NAME}", "0750001A"),
        ReportItem("membership", f"ine:{INE}|0750001A$3A", "!", f"ValueError: ine:{INE} unknown", "0750001A"),
        ReportItem("guardianship", f"{NAME}|{INE}", "-", f"INE {INE} of {GIVEN}", "0750001A", "guardian"),
        ReportItem("message", f"{EMAIL}/INBOX/1", "*", f"From: {GIVEN} {NAME}", "0750001A"),
        ReportItem("person", f"ine:{INE}", "=", f"{NAME}"),
    ]


def test_no_personal_data_in_any_file(tmp_path: Path) -> None:
    pseudo = Pseudonymizer(b"district-key".ljust(16, b"."))
    problems = [
        {
            "code": "ine.duplicate",
            "severity": "error",
            "count": 1,
            "examples": ["Eleve.xml:3"],
            "details": [f"{INE}", f"{EMAIL}"],
        }
    ]
    data = make_data(_leaky_items(), problems=problems, source=f"imap:{EMAIL}@127.0.0.1", thresholds={"contact": EMAIL})
    written = write_reports(data, tmp_path, pseudo)
    for path in written.paths:
        text = path.read_bytes().decode("utf-8-sig").lower()
        for secret in SECRETS:
            assert secret.lower() not in text, f"{secret!r} leaked into {path.name}"
    doc = json.loads(written.paths[0].read_text("utf-8"))
    assert doc["lists"]["+"][0]["id"] == pseudo(f"ine:{INE}")
    # The item's own key inside its reason becomes its pseudonym, so the reason stays useful.
    assert doc["lists"]["!"][0]["reason"] == f"ValueError: {pseudo(f'ine:{INE}')} unknown"
    assert doc["lists"]["+"][0]["reason"].startswith("missing on target: ")


def test_pseudonyms_are_stable_and_keyed(tmp_path: Path) -> None:
    def ids(key: str, out: str) -> list[str]:
        written = write_reports(make_data(_leaky_items()), tmp_path / out, Pseudonymizer(key.encode().ljust(16, b".")))
        doc = json.loads(written.paths[0].read_text("utf-8"))
        return [e["id"] for lst in doc["lists"].values() for e in lst]

    first, again, other = ids("k1", "a"), ids("k1", "b"), ids("k2", "c")
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))
    assert all(i.startswith("p:") and len(i) == 18 for i in first + other)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("fields differ: given_name, emails", "fields differ: given_name, emails"),
        ("rule max-deletions exceeded (12 > 10)", "rule max-deletions exceeded (12 > 10)"),
        ("TimeoutError", "TimeoutError"),
        ("uai 0750001A unknown", "uai 0750001A unknown"),
        ("valeur différente", "valeur différente"),
        ("Jean Martin", f"{REDACTED} {REDACTED}"),
        ("born 20100304", f"born {REDACTED}"),
        ("mail x.y@ac-paris.fr", f"mail {REDACTED}"),
    ],
)
def test_reason_vocabulary(reason: str, expected: str) -> None:
    assert scrub_reason(reason) == expected


def test_problem_text_keeps_places() -> None:
    assert scrub_text("Eleve_0000.xml:120") == "Eleve_0000.xml:120"
    assert scrub_text("ElevesSansAdresses.xml:7 INE 1234567890A") == f"ElevesSansAdresses.xml:7 INE {REDACTED}"


_names = st.from_regex(r"[A-ZÉ][a-zéèï]{2,12}", fullmatch=True)
_ines = st.from_regex(r"[0-9]{9}[A-Z]{2}|[0-9]{10}[A-Z]", fullmatch=True)
_emails = st.from_regex(r"[a-z][a-z0-9._-]{1,10}@[a-z]{2,8}\.(fr|org|com)", fullmatch=True)
_filler = st.sampled_from(["missing", "on", "target:", "fields", "differ", "-", "(", ")", ",", "sn", "mail"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=_names, ine=_ines, email=_emails, filler=st.lists(_filler, max_size=6), seps=st.sampled_from([" ", ", ", ";"])
)
def test_reason_never_keeps_a_name_ine_or_email(name: str, ine: str, email: str, filler: list[str], seps: str) -> None:
    words = [*filler, name, *filler, ine, email]
    out = scrub_reason(seps.join(words))
    assert name not in out
    assert ine not in out
    assert email not in out
    assert email.split("@")[1] not in out


def test_uai_and_profile_columns_are_scrubbed_when_not_a_uai_or_enum(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [
        ReportItem("person", "k", "+", uai=EMAIL, profile=f"x {INE}"),
        ReportItem("person", "k2", "+", uai="0750001A", profile="student"),
    ]
    written = write_reports(make_data(items), tmp_path, pseudo)
    doc = json.loads(written.paths[0].read_text("utf-8"))
    assert [(e["uai"], e["profile"]) for e in doc["lists"]["+"]] == [
        (REDACTED, f"x {REDACTED}"),
        ("0750001A", "student"),
    ]


def test_a_name_in_the_uai_column_is_redacted(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    write_reports(make_data([ReportItem("person", "k", "+", uai=NAME, profile="Teacher")]), tmp_path, pseudo)
    doc = json.loads((tmp_path / "verify-report.json").read_text("utf-8"))
    assert (doc["lists"]["+"][0]["uai"], doc["lists"]["+"][0]["profile"]) == (REDACTED, REDACTED)


def _pseudonymize_key_reference(reason: str, key: str, pseudonymize: Pseudonymizer) -> str:
    # The replacement as it was before issue 15's early exit: every part tried, in the same order.
    parts = {p for p in key.split("|") if len(p) >= 4 and not _CLEAR_PART.fullmatch(p)} - {key}
    for part in [key, *sorted(parts, key=lambda p: (-len(p), p))]:
        if part in reason:
            reason = reason.replace(part, pseudonymize(part))
    return reason


_ID_TEXT = st.text(alphabet="ab01$|:p 9V", max_size=14)


@settings(max_examples=400)
@given(key=_ID_TEXT, before=_ID_TEXT, after=_ID_TEXT, named=st.booleans())
def test_the_key_early_exit_replaces_exactly_as_before(key: str, before: str, after: str, named: bool) -> None:
    pseudonymize = Pseudonymizer(b"0123456789abcdef")
    reason = before + (key if named else "") + after
    assert _pseudonymize_key(reason, key, pseudonymize) == _pseudonymize_key_reference(reason, key, pseudonymize)


@given(st.binary(min_size=16, max_size=64), st.lists(st.text(max_size=40), min_size=1, max_size=8))
def test_a_pseudonym_is_the_keyed_hmac_of_the_id_whatever_came_before(key: bytes, ids: list[str]) -> None:
    # The pseudonymizer keys its HMAC once and copies it per id: no id may leak into the next one's.
    pseudonymize = Pseudonymizer(key)
    for identifier in ids + ids[::-1]:
        digest = hmac.new(key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
        assert pseudonymize(identifier) == "p:" + digest[:16]
