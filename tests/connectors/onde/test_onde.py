"""The onde connector: the real-shaped BE1D samples, header variants, encodings and hostile files."""

from __future__ import annotations

import codecs
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.connectors.onde import OndeConnector, derived_id
from ent_migrate.contract import Capability
from ent_migrate.errors import ConfigError, InputError
from ent_migrate.model import Function, Group, Guardianship, Membership, Person, Profile, Record, Structure
from ent_migrate.registry import open_connector


@pytest.fixture
def samples(shared_samples: Path) -> Path:
    return shared_samples / "onde-be1d"


UAI = "0610001V"

PUPILS_ONDE = (
    "Nom élève;Nom d'usage élève;Prénom élève;Date naissance;Sexe;INE;Adresse1;Cp1;Commune1;Pays1;"
    " Cycle;Niveau;Libellé classe;Identifiant classe;Attestation fournie"
)
GUARDIANS = (
    "Civilité Responsable;Nom usage responsable;Nom responsable;Prénom responsable;Adresse responsable;"
    "CP responsable;Commune responsable;Pays;Courriel;Téléphone domicile;Téléphone travail;"
    "Téléphone portable;Nom d'usage enfant;Nom de famille enfant;Prénom enfant;Classes enfants;"
    "Nom d'usage enfant;Nom de famille enfant;Prénom enfant;Classes enfants"
)
TEACHERS = (
    "Civilité;Nom usage;Nom;Prénom;Adresse;CP;Commune;Pays;Courriel;Téléphone domicile;Téléphone portable;"
    "Directeur;Classe"
)


def write(folder: Path, name: str, lines: list[str], encoding: str = "iso-8859-15", bom: bool = False) -> Path:
    data = "\r\n".join(lines).encode(encoding) + b"\r\n"
    path = folder / name
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + data)
    return path


def read_all(connector: OndeConnector) -> list[Record]:
    return [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()]


def by_type(records: list[Record]) -> Counter[str]:
    return Counter(type(r).__name__ for r in records)


def examples(connector: OndeConnector, code: str) -> list[str]:
    for problem in connector.problems:
        if problem.code == code:
            return problem.examples
    return []


# -- the real-shaped samples -------------------------------------------------------------------------


def test_samples_read_with_no_problem(samples: Path) -> None:
    connector = OndeConnector(str(samples), {"uai": UAI})
    records = read_all(connector)
    assert connector.problems.to_list() == []
    counts = by_type(records)
    # 247 pupils, 469 guardian rows (two parents listed twice with the same address: 467 people),
    # 14 teachers
    pupils = [r for r in records if isinstance(r, Person) and r.profile is Profile.STUDENT]
    teachers = [r for r in records if isinstance(r, Person) and r.profile is Profile.TEACHER]
    assert len(pupils) == 247
    assert len(teachers) == 14
    assert sum(1 for r in records if isinstance(r, Person) and r.profile is Profile.GUARDIAN) == 467
    assert counts["Structure"] == 1
    assert counts["Group"] == 10  # TPS, PS, MS, GS, CP, CE1, CE2, CM1, CM2, CLIS
    assert counts["Guardianship"] == 491  # every child link of the guardian file resolves
    assert sum(1 for r in records if isinstance(r, Membership)) == 247 + 14
    assert {f.code for f in records if isinstance(f, Function)} == {"ENS", "DIR"}
    # accents survived the ISO-8859 decoding
    assert any(p.first_name == "Maëlle" for p in pupils)
    assert all(p.birth_date is not None and p.birth_date.year > 2000 for p in pupils)


def test_sample_ids_are_stable_and_order_independent(tmp_path: Path, samples: Path) -> None:
    first = {r.key for r in read_all(OndeConnector(str(samples), {"uai": UAI}))}
    source = (samples / "CSVExtraction-eleves.csv").read_bytes().split(b"\r\n")
    shuffled = [source[0], *reversed([line for line in source[1:] if line])]
    (tmp_path / "eleves.csv").write_bytes(b"\r\n".join(shuffled) + b"\r\n")
    for name in ("CSVExtraction-responsables.csv", "CSVExtraction-enseignants.csv"):
        (tmp_path / name).write_bytes((samples / name).read_bytes())
    second = {r.key for r in read_all(OndeConnector(str(tmp_path), {"uai": UAI}))}
    assert first == second


def test_registered_and_opened_by_spec(samples: Path) -> None:
    connector = open_connector(f"onde:{samples / 'CSVExtraction-eleves.csv'}", {"uai": UAI})
    assert isinstance(connector, OndeConnector)
    assert connector.capabilities == {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS}
    assert sum(1 for r in connector.read_accounts() if isinstance(r, Person)) == 247


def test_missing_uai_is_a_config_error(samples: Path) -> None:
    with pytest.raises(ConfigError, match="UAI"):
        OndeConnector(str(samples), {})
    with pytest.raises(ConfigError, match="7 digits"):
        OndeConnector(str(samples), {"uai": "12345"})
    with pytest.raises(ConfigError, match="two different schools"):
        OndeConnector(str(samples), {"uai": UAI, "expect_uai": "0610002W"})


def test_missing_location_is_an_input_error(tmp_path: Path) -> None:
    connector = OndeConnector(str(tmp_path / "nowhere"), {"uai": UAI})
    with pytest.raises(InputError, match="nowhere"):
        list(connector.read_accounts())


# -- formats ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom"), [("iso-8859-15", False), ("cp1252", False), ("utf-8", False), ("utf-8", True)]
)
def test_encodings_and_bom(tmp_path: Path, encoding: str, bom: bool) -> None:
    write(
        tmp_path,
        "x.csv",
        [PUPILS_ONDE, '"CŒUR";;"Zoé";"03/02/2017";"F";"1234567890A";;;;;"CYCLE II";"CP";"CP A";"C1";"Oui"'],
        encoding,
        bom,
    )
    connector = OndeConnector(str(tmp_path), {"uai": UAI})
    (pupil,) = [r for r in connector.read_accounts() if isinstance(r, Person)]
    assert (pupil.last_name, pupil.first_name) == ("CŒUR", "Zoé")
    assert pupil.id == "1234567890A"
    assert pupil.birth_date == dt.date(2017, 2, 3)
    assert connector.problems.to_list() == []
    (group,) = connector.read_groups()
    assert (group.code, group.name, group.level) == ("C1", "CP A", "CP")


def test_bad_encoding_line_is_reported_and_skipped(tmp_path: Path) -> None:
    lines = [PUPILS_ONDE, '"ALPHA";;"Élodie";"03/02/2017";"F";"1234567890A";;;;;"C2";"CP";"CP";"CP";""']
    good = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    bad = b'"BETA";;"Luc";"03/02/2017";"M";"1234567890B";;;;;"C2";"CP";"CP";"CP";""\r\n' + b"\xff\xfe\r\n"
    (tmp_path / "x.csv").write_bytes(good + bad)
    connector = OndeConnector(str(tmp_path), {"uai": UAI})
    pupils = [r for r in connector.read_accounts() if isinstance(r, Person)]
    assert [p.first_name for p in pupils] == ["Élodie", "Luc"]
    assert examples(connector, "encoding.unsupported") == ["x.csv:4"]


def test_nul_byte_line_is_reported(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_bytes(
        (PUPILS_ONDE + "\r\n").encode("iso-8859-15") + b'"A\x00";;"B";"01/01/2017";"F";"1234567890A"\r\n'
    )
    connector = OndeConnector(str(tmp_path), {"uai": UAI})
    assert [r for r in connector.read_accounts() if isinstance(r, Person)] == []
    assert examples(connector, "encoding.unsupported") == ["x.csv:2"]


def test_unknown_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "other.csv", ["a;b;c", "1;2;3"])
    connector = OndeConnector(str(tmp_path), {"uai": UAI})
    assert [r for r in connector.read_accounts() if isinstance(r, Person)] == []
    assert examples(connector, "file.unknown") == ["other.csv:1"]


# -- hostile records ------------------------------------------------------------------------------


def pupil_row(last: str, first: str, birth: str, ine: str, label: str, code: str = "") -> str:
    return f'"{last}";;"{first}";"{birth}";"F";"{ine}";;;;;"CYCLE II";"CP";"{label}";"{code}";"Oui"'


def test_duplicate_and_missing_ine_missing_fields_and_bad_dates(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pupils.csv",
        [
            PUPILS_ONDE,
            pupil_row("UN", "Anne", "01/09/2017", "1234567890A", "CP"),
            pupil_row("DEUX", "Bea", "02/09/2017", "1234567890A", "CP"),  # line 3: duplicate INE
            pupil_row("TROIS", "Cléo", "03/09/2017", "", "CP"),  # line 4: no INE
            pupil_row("", "Dora", "04/09/2017", "1234567890C", "CP"),  # line 5: no last name
            pupil_row("CINQ", "Eva", "", "1234567890D", "CP"),  # line 6: no birth date
            pupil_row("SIX", "Fanny", "31/02/2017", "1234567890E", "CP"),  # line 7: impossible date
            pupil_row("SEPT", "Gina", "2017/09/07", "1234567890F", "CP"),  # line 8: wrong format
            pupil_row("HUIT", "Hana", "07/09/2017", "1234567890G", ""),  # line 9: no class yet (not a fault)
        ],
    )
    connector = OndeConnector(str(tmp_path), {"uai": UAI})
    records = read_all(connector)
    people = {r.first_name: r for r in records if isinstance(r, Person)}
    assert set(people) == {"Anne", "Cléo", "Eva", "Fanny", "Gina", "Hana"}
    assert examples(connector, "ine.duplicate") == ["pupils.csv:3"]
    assert examples(connector, "ine.missing") == ["pupils.csv:4"]
    assert people["Cléo"].id == derived_id(UAI, "pupil", "TROIS", "Cléo", "2017-09-03")
    assert examples(connector, "record.missing-field") == ["pupils.csv:5", "pupils.csv:6"]
    assert examples(connector, "date.invalid") == ["pupils.csv:7", "pupils.csv:8"]
    assert people["Fanny"].birth_date is None
    # the pupil with no class has no membership, the others have one
    members = {r.person_id for r in records if isinstance(r, Membership)}
    assert people["Hana"].id not in members
    assert people["Anne"].id in members
    # every problem is counted once although three readers passed over the file
    assert connector.problems.count("date.invalid") == 2


def test_derived_ids_fold_case_accents_apostrophes_and_spaces() -> None:
    a = derived_id(UAI, "pupil", "O'Brien  Le-Gall", "Élise", "2017-01-01")
    b = derived_id(UAI, "pupil", "o’brien le gall", "ELISE", "2017-01-01")
    assert a == b
    assert a.startswith(f"onde:{UAI}:")
    assert len(a.rsplit(":", 1)[1]) == 16
    assert a != derived_id(UAI, "pupil", "O'Brien Le-Gall", "Élise", "2017-01-02")
    assert a != derived_id("0610002W", "pupil", "O'Brien Le-Gall", "Élise", "2017-01-01")


def guardian_row(last: str, first: str, *children: tuple[str, str, str]) -> str:
    cells = ["Mme", "", last, first, "1 rue", "61000", "Alençon", "", "", "", "", ""]
    for family, child_first, label in children:
        cells += ["", family, child_first, label]
    return ";".join(f'"{c}"' if c else "" for c in cells)


def test_guardian_links_resolved_ambiguous_unresolved(tmp_path: Path) -> None:
    write(
        tmp_path,
        "eleves.csv",
        [
            PUPILS_ONDE,
            pupil_row("D'ARC", "Jeanne", "01/09/2017", "1234567890A", "CP A"),
            pupil_row("MARTIN", "Léa", "01/09/2016", "1234567890B", "CE1"),
            pupil_row("MARTIN", "Léa", "05/10/2016", "1234567890C", "CE1"),  # a homonym in the same class
        ],
    )
    write(
        tmp_path,
        "resp.csv",
        [
            GUARDIANS,
            guardian_row("DARC", "Isabelle", ("d’arc", "JEANNE", "cp a")),  # resolves despite spelling
            guardian_row("MARTIN", "Paul", ("MARTIN", "Léa", "CE1")),  # line 3: two pupils match
            guardian_row("DUPONT", "Jean", ("DUPONT", "Lou", "CM2"), ("D'ARC", "Jeanne", "CP")),  # line 4
            guardian_row("SEUL", "Sam"),  # line 5: no child at all
        ],
        "utf-8",
    )
    connector = OndeConnector(str(tmp_path), {"uai": UAI})
    records = read_all(connector)
    links = [r for r in records if isinstance(r, Guardianship)]
    assert [(link.student_id) for link in links] == ["1234567890A"]
    assert examples(connector, "link.ambiguous") == ["resp.csv:3"]
    # both children of line 4 are unresolved: unknown pupil, and a known pupil in another class
    assert examples(connector, "link.unresolved") == ["resp.csv:4", "resp.csv:4"]
    assert connector.problems.count("link.unresolved") == 2
    assert examples(connector, "guardian.orphan") == ["resp.csv:5"]
    guardians = [r for r in records if isinstance(r, Person) and r.profile is Profile.GUARDIAN]
    assert len(guardians) == 4  # unlinked guardians are still accounts; their links are listed problems


def test_teachers_director_and_classes(tmp_path: Path) -> None:
    write(tmp_path, "eleves.csv", [PUPILS_ONDE, pupil_row("A", "B", "01/09/2017", "1234567890A", "CP A", "C1")])
    write(
        tmp_path,
        "profs.csv",
        [
            TEACHERS,
            '"MME";;"DURAND";"Anne";;;;;"a@example.org";;;"oui";"CP A"',
            '"M.";;"LEROY";"Marc";;;;;;;;"non";"CM2"',
            '"M.";;"LEROY";"Marc";;;;;;;;"non";"CM1"',
            '"M.";;"";"Marc";;;;;;;;"non";"CM1"',
        ],
    )
    connector = OndeConnector(str(tmp_path), {"uai": UAI, "id_prefix": "AC-CAEN$"})
    records = read_all(connector)
    teachers = [r for r in records if isinstance(r, Person) and r.profile is Profile.TEACHER]
    assert len(teachers) == 2
    assert all(t.id.startswith("AC-CAEN$onde:") for t in teachers)
    durand = next(t for t in teachers if t.last_name == "DURAND")
    assert durand.civility == "Mme"
    assert durand.emails == ("a@example.org",)
    functions = {(f.person_id == durand.id, f.code) for f in records if isinstance(f, Function)}
    assert functions == {(True, "DIR"), (True, "ENS"), (False, "ENS")}
    teacher_classes = sorted(
        r.group_code for r in records if isinstance(r, Membership) and r.person_id != "AC-CAEN$1234567890A"
    )
    assert teacher_classes == ["C1", "CM1", "CM2"]  # "CP A" is the label of class C1
    assert sorted(g.code for g in records if isinstance(g, Group)) == ["C1", "CM1", "CM2"]
    assert examples(connector, "record.missing-field") == ["profs.csv:5"]
    assert isinstance(records[0], Structure)
    assert records[0].uai == UAI


def test_guardian_of_a_pupil_in_no_class(tmp_path: Path) -> None:
    write(tmp_path, "eleves.csv", [PUPILS_ONDE, pupil_row("NOUVEAU", "Tim", "01/09/2017", "1234567890A", "")])
    write(tmp_path, "resp.csv", [GUARDIANS, guardian_row("NOUVEAU", "Ada", ("NOUVEAU", "Tim", ""))])
    connector = OndeConnector(str(tmp_path), {"expect_uai": UAI})  # what `inspect --expect-uai` passes
    records = read_all(connector)
    assert [(g.student_id) for g in records if isinstance(g, Guardianship)] == ["1234567890A"]
    assert [m for m in records if isinstance(m, Membership)] == []
    assert connector.problems.to_list() == []


_NAME = st.text(alphabet=st.sampled_from("abcdeéèàçœÆ ’'-ÉÀKLMNO"), min_size=1, max_size=20)


@given(last=_NAME, first=_NAME)
def test_derived_id_ignores_case_accents_and_punctuation(last: str, first: str) -> None:
    import unicodedata

    def shout(text: str) -> str:
        stripped = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        return "  " + stripped.upper().replace("’", "'").replace("-", " ") + " "

    assert derived_id(UAI, "teacher", last, first) == derived_id(UAI, "teacher", shout(last), shout(first))
    assert derived_id(UAI, "teacher", last, first) != derived_id(UAI, "guardian", last, first)


def test_quoted_newlines_keep_line_numbers(tmp_path: Path) -> None:
    multi = '"UN";;"Anne";"01/09/2017";"F";"1234567890A";"1 rue\r\nbâtiment B";;;;"C2";"CP";"CP";"CP";""'
    write(tmp_path, "p.csv", [PUPILS_ONDE, multi, pupil_row("DEUX", "Bea", "99/99/2017", "1234567890B", "CP")])
    connector = OndeConnector(str(tmp_path), {"uai": UAI})
    assert len([r for r in connector.read_accounts() if isinstance(r, Person)]) == 2
    assert examples(connector, "date.invalid") == ["p.csv:4"]  # the first record spans lines 2-3
