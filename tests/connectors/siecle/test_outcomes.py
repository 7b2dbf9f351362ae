"""docs/problems.md repeats the siecle reader's outcomes table (what happens to the record behind each
problem), and the reader does what each row says: every row has a case below that triggers it and
checks the record is kept, dropped or excluded."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ent_migrate.connectors.siecle import SiecleConnector
from ent_migrate.connectors.siecle._outcomes import OUTCOMES
from ent_migrate.model import Guardianship, Membership, Person, Profile, Record, Structure
from ent_migrate.outcome_rules import Outcome
from tests.connectors.siecle.test_siecle import (
    COLLEGE,
    UAI,
    eleve,
    eleves,
    lien,
    personne,
    responsables,
    structure,
    write,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "problems.md"
LEVEL1 = "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>"


def test_the_doc_repeats_the_table() -> None:
    lines = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| siecle |")]
    assert lines == OUTCOMES.markdown_rows()


# -- one export that triggers most rows, each on records of its own ----------------------------------------
PUPILS = {
    "1": eleve("1", "0000000001A"),  # control: kept
    "2": eleve("2", "0000000002A", extra="<DATE_SORTIE>01/01/2025</DATE_SORTIE>"),  # pupil.left
    "3": eleve("3", ""),  # no ID_NATIONAL: pupil.not-arrived
    "4": eleve("4", None),  # empty ID_NATIONAL: ine.missing, kept
    "5": eleve("5", "0000000001A"),  # ine.duplicate of pupil 1
    "6": eleve("6", "0000000006A", last=""),  # no name
    "7": eleve("7", "0000000007A", first=""),  # no first name
    "8": eleve("8", "0000000008A", birth=""),  # no birth date: kept
    "9": eleve("9", "0000000009A", sex=""),  # no CODE_SEXE: kept
    "10": eleve("10", "0000000010A", sex="7"),  # a CODE_SEXE that is no sex: kept
    "11": eleve("11", "0000000011A", birth="2013-01-01"),  # date.invalid: kept
    "12": eleve("12", "0000000012A"),  # in Inactifs: excluded
    "13": eleve("13", "0000000013A"),  # groups only: kept
    "14": eleve("14", "0000000014A"),  # no STRUCTURES_ELEVE: kept
    "15": eleve("15", "0000000015A"),  # in a class STS does not define: kept, membership dropped
}
STRUCTURES = {
    "1": structure("1", ("6A", "D")),
    "12": structure("12", ("Inactifs", "D")),
    "13": structure("13", ("6LAT", "G")),
    "15": structure("15", ("9Z", "D")),
    "99": structure("99", ("6A", "D")),  # an ELEVE_ID with no ELEVE
}
GUARDIANS = {
    "P1": personne("P1"),  # control, linked to pupil 1
    "P2": personne("P2"),  # no link: guardian.orphan
    "P3": personne("P3"),  # linked to pupil 2 only (left): guardian.orphan, excluded
    "P4": personne("P4", first=""),  # no first name: dropped, and its link
    "1": personne("1"),  # PERSONNE_ID equal to ELEVE_ID 1: record.invalid
}
LINKS = [
    lien("1", "P1", LEVEL1),
    lien("2", "P3", LEVEL1),
    lien("1", "P4", LEVEL1),
    lien("14", "1", LEVEL1),
    lien("88", "P1", LEVEL1),  # unknown ELEVE_ID
    lien("1", "P9", LEVEL1),  # unknown PERSONNE_ID
    "<RESPONSABLE_ELEVE><ELEVE_ID>1</ELEVE_ID></RESPONSABLE_ELEVE>\n",  # no PERSONNE_ID
]


def _sts() -> str:
    sts = (COLLEGE / "sts_emp_0350001L_2024.xml").read_text("iso-8859-1")
    extra = (
        '<INDIVIDU TYPE="epp"><NOM_USAGE>X</NOM_USAGE><PRENOM>Y</PRENOM></INDIVIDU>\n'  # no ID
        '<INDIVIDU ID="4003" TYPE="epp"><NOM_USAGE>X</NOM_USAGE></INDIVIDU>\n'  # no PRENOM
        '<INDIVIDU ID="14" TYPE="epp"><NOM_USAGE>X</NOM_USAGE><PRENOM>Y</PRENOM></INDIVIDU>\n'  # = ELEVE_ID 14
        '<INDIVIDU ID="4005" TYPE="epp"><NOM_USAGE>X</NOM_USAGE><PRENOM>Y</PRENOM>'
        "<DATE_NAISSANCE>31/13/1980</DATE_NAISSANCE></INDIVIDU>\n"
    )
    sts = sts.replace("</INDIVIDUS>", extra + "</INDIVIDUS>", 1)
    return sts.replace('<ENSEIGNANT ID="4001"', '<ENSEIGNANT ID="9999"', 1)  # a service of a teacher STS lacks


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Record], SiecleConnector]:
    folder = tmp_path_factory.mktemp("school")
    pupils = "".join(PUPILS.values()) + "<ELEVE><ID_NATIONAL>0000000077A</ID_NATIONAL></ELEVE>\n"
    write(folder, "e.xml", eleves(pupils, "".join(STRUCTURES.values())))
    write(
        folder,
        "r.xml",
        responsables("".join(GUARDIANS.values()) + "<PERSONNE><PRENOM>Z</PRENOM></PERSONNE>\n", "".join(LINKS)),
    )
    write(folder, "sts.xml", _sts(), "iso-8859-1")
    write(folder, "edt.xml", "<?xml version='1.0'?><EDT_STS><PARAMETRES/></EDT_STS>")
    write(folder, "notes.xml", "<?xml version='1.0'?><SOMETHING/>")
    write(
        folder,
        "n.xml",
        "<?xml version='1.0'?><BEE_NOMENCLATURES><PARAMETRES><UAJ>0350002M</UAJ></PARAMETRES></BEE_NOMENCLATURES>",
    )  # another school
    connector = SiecleConnector(str(folder))
    return [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()], connector


def _people(records: list[Record]) -> set[str]:
    return {r.id for r in records if isinstance(r, Person)}


def _pupils(records: list[Record]) -> set[str]:
    return {r.id for r in records if isinstance(r, Person) and r.profile is Profile.STUDENT}


def _links(records: list[Record]) -> set[tuple[str, str]]:
    return {(r.guardian_id, r.student_id) for r in records if isinstance(r, Guardianship)}


def _members(records: list[Record]) -> set[tuple[str, str]]:
    return {(r.person_id, r.group_code) for r in records if isinstance(r, Membership)}


Check = Callable[[list[Record]], bool]


def person(pid: str, outcome: Outcome) -> Check:
    return lambda records: (pid in _people(records)) is (outcome is Outcome.KEPT)


#: (code, case) → what the records of the school above must show
SCHOOL: dict[tuple[str, str], Check] = {
    ("pupil.left", "DATE_SORTIE"): person("2", Outcome.EXCLUDED),
    ("pupil.not-arrived", "no ID_NATIONAL"): person("3", Outcome.EXCLUDED),
    ("ine.missing", "empty ID_NATIONAL"): lambda r: any(
        isinstance(p, Person) and p.id == "4" and p.ine is None for p in r
    ),
    ("ine.duplicate", "*"): person("5", Outcome.DROPPED),
    ("record.missing-field", "pupil NOM_DE_FAMILLE"): person("6", Outcome.DROPPED),
    ("record.missing-field", "pupil PRENOM"): person("7", Outcome.DROPPED),
    ("record.missing-field", "pupil DATE_NAISS"): person("8", Outcome.KEPT),
    ("record.incomplete", "pupil CODE_SEXE"): person("9", Outcome.KEPT),
    ("record.invalid", "pupil CODE_SEXE not a known code"): person("10", Outcome.KEPT),
    ("date.invalid", "DATE_NAISS: not dd/mm/yyyy"): person("11", Outcome.KEPT),
    ("pupil.inactive", "division Inactifs"): person("12", Outcome.EXCLUDED),
    ("pupil.no-class", "no division"): lambda r: ("13", "6LAT") in _members(r),
    ("pupil.no-class", "no STRUCTURES_ELEVE"): person("14", Outcome.KEPT),
    ("ref.dangling", "class or group not defined in STS"): lambda r: (
        "15" in _people(r) and not any(m[0] == "15" for m in _members(r))
    ),
    ("ref.dangling", "STRUCTURES_ELEVE of an ELEVE_ID with no ELEVE"): lambda r: (
        not any(m[0] == "99" for m in _members(r))
    ),
    ("record.missing-field", "ELEVE/@ELEVE_ID"): lambda r: (
        _pupils(r) == {"1", "4", "8", "9", "10", "11", "13", "14", "15"}
    ),
    ("guardian.orphan", "no RESPONSABLE_ELEVE"): person("P2", Outcome.EXCLUDED),
    ("guardian.orphan", "every pupil linked is excluded"): person("P3", Outcome.EXCLUDED),
    ("record.missing-field", "guardian NOM_DE_FAMILLE or PRENOM"): lambda r: (
        "P4" not in _people(r) and ("P4", "1") not in _links(r)
    ),
    ("record.invalid", "PERSONNE_ID equal to an ELEVE_ID"): lambda r: ("1", "14") not in _links(r),
    ("ref.dangling", "RESPONSABLE_ELEVE to an unknown ELEVE_ID"): lambda r: _links(r) == {("P1", "1")},
    ("ref.dangling", "RESPONSABLE_ELEVE to an unknown PERSONNE_ID"): lambda r: ("P9", "1") not in _links(r),
    ("record.missing-field", "RESPONSABLE_ELEVE ELEVE_ID or PERSONNE_ID"): lambda r: _links(r) == {("P1", "1")},
    ("record.missing-field", "PERSONNE/@PERSONNE_ID"): lambda r: (
        not any(p.startswith("P") and p[1:] == "" for p in _people(r))
    ),
    ("record.missing-field", "INDIVIDU/@ID"): lambda r: (
        {p for p in _people(r) if p.startswith("40")} == {"4001", "4002", "4005"}
    ),
    ("record.missing-field", "INDIVIDU NOM_USAGE or PRENOM"): person("4003", Outcome.DROPPED),
    ("record.invalid", "INDIVIDU ID equal to a pupil or guardian id"): lambda r: (
        not any(isinstance(p, Person) and p.id == "14" and p.profile is not Profile.STUDENT for p in r)
    ),
    ("date.invalid", "DATE_NAISSANCE: not yyyy-mm-dd"): lambda r: any(
        isinstance(p, Person) and p.id == "4005" and p.birth_date is None for p in r
    ),
    ("ref.dangling", "ENSEIGNANT not in INDIVIDUS"): lambda r: ("9999", "6A") not in _members(r),
    ("file.unknown", "not a BEE_ELEVES, BEE_RESPONSABLES, BEE_NOMENCLATURES or STS_EDT file"): lambda r: True,
    ("file.unknown", "EDT_STS (timetable → STS) file: export sts_emp_<UAI>_<year>.xml instead"): lambda r: True,
    ("uai.mismatch", "files of two different schools"): lambda r: (
        [s.uai for s in r if isinstance(s, Structure)] == [UAI]
    ),
}


def reported(connector: SiecleConnector, code: str, case: str) -> bool:
    for problem in connector.problems:
        if problem.code == code:
            return case == "*" or case in problem.details
    return False


@pytest.mark.parametrize(("code", "case"), sorted(SCHOOL))
def test_the_school_rows(school: tuple[list[Record], SiecleConnector], code: str, case: str) -> None:
    records, connector = school
    assert reported(connector, code, case), f"{code} / {case} not triggered"
    assert OUTCOMES.rule_for(code, None if case == "*" else case) is not None
    assert SCHOOL[(code, case)](records), f"{code} / {case}: not what the table says"


# -- rows about whole files, one export each ----------------------------------------------------------------
Case = Callable[[Path], tuple[SiecleConnector, Check]]


def _one(tmp_path: Path, data: bytes, options: dict[str, str] | None = None) -> SiecleConnector:
    (tmp_path / "e.xml").write_bytes(data)
    write(tmp_path, "r.xml", responsables(personne("P1"), lien("1", "P1", LEVEL1)))
    return SiecleConnector(str(tmp_path), options)


PLAIN = eleves(eleve("1", "0000000001A"), structure("1", ("6A", "D")))


def _dtd(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    data = PLAIN.replace("<BEE_ELEVES", '<!DOCTYPE BEE_ELEVES [<!ENTITY x "y">]>\n<BEE_ELEVES', 1).encode()
    return _one(tmp_path, data), lambda r: "1" not in _people(r) and "P1" not in _people(r)


def _encoding(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    return _one(tmp_path, PLAIN.encode("utf-16")), lambda r: "1" not in _people(r)


def _malformed(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    data = eleves(eleve("1", "0000000001A") + eleve("2", "0000000002A") + "<ELEVE ELEVE_ID='3'><NOM>X</PRENOM>")
    return _one(tmp_path, data.encode()), lambda r: {"1", "2"} <= _people(r) and "3" not in _people(r)


def _entity(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    data = eleves(eleve("1", "0000000001A", last="A&bogus;B")).encode()
    return _one(tmp_path, data), lambda r: any(isinstance(p, Person) and p.last_name == "A&bogus;B" for p in r)


def _mixed(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    text = eleves(eleve("1", "0000000001A", last="ÉTÉ") + eleve("2", "0000000002A", last="DUPONTÃ©"))
    data = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-15"').encode("iso-8859-15")
    return _one(tmp_path, data), lambda r: {"1", "2"} <= _people(r)


def _unexpected(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    data = PLAIN.replace("<STRUCTURES>", "<JUNK><X/></JUNK>" * 3 + "<STRUCTURES>").encode()
    return _one(tmp_path, data), lambda r: "1" in _people(r)


def _too_large(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    big = eleve("2", "0000000002A", extra="<PRENOM4>" + "x" * (2 << 20) + "</PRENOM4>")
    data = eleves(eleve("1", "0000000001A") + big).encode()
    return _one(tmp_path, data), lambda r: "1" in _people(r) and "2" not in _people(r)


def _unsafe(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("e.xml", PLAIN)
        zf.writestr("../evil.xml", eleves(eleve("2", "0000000002A")))
    return SiecleConnector(str(archive)), lambda r: _people(r) == {"1"}


def _uai_empty(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    data = eleves(eleve("1", "0000000001A"), uaj="").encode()
    return _one(tmp_path, data), lambda r: "1" in _people(r)  # under the UAJ of r.xml


def _uai_absent(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    data = PLAIN.replace(f"<PARAMETRES><UAJ>{UAI}</UAJ></PARAMETRES>", "").encode()
    return _one(tmp_path, data, {"expect_uai": UAI}), lambda r: "1" in _people(r)


def _uai_shape(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    return _one(tmp_path, eleves(eleve("1", "0000000001A"), uaj="035001L").encode()), lambda r: "1" in _people(r)


def _uai_letter(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    return _one(tmp_path, eleves(eleve("1", "0000000001A"), uaj="0350001A").encode()), lambda r: "1" in _people(r)


def _uai_expected(tmp_path: Path) -> tuple[SiecleConnector, Check]:
    connector = _one(tmp_path, PLAIN.encode(), {"expect_uai": "0350002M"})
    return connector, lambda r: "1" in _people(r) and [s.uai for s in r if isinstance(s, Structure)] == [UAI]


FILES: dict[tuple[str, str], Case] = {
    ("xml.dtd-forbidden", "*"): _dtd,
    ("encoding.unsupported", "*"): _encoding,
    ("xml.malformed", "*"): _malformed,
    ("xml.entity-undefined", "*"): _entity,
    ("encoding.mixed", "*"): _mixed,
    ("xml.unexpected-element", "*"): _unexpected,
    ("record.too-large", "*"): _too_large,
    ("archive.unsafe-member", "*"): _unsafe,
    ("uai.missing", "empty PARAMETRES/UAJ"): _uai_empty,
    ("uai.missing", "no PARAMETRES/UAJ"): _uai_absent,
    ("uai.invalid", "not seven digits and a letter"): _uai_shape,
    ("uai.invalid", "wrong check letter"): _uai_letter,
    ("uai.mismatch", "PARAMETRES/UAJ is not the expected UAI"): _uai_expected,
}


@pytest.mark.parametrize(("code", "case"), sorted(FILES))
def test_the_file_rows(tmp_path: Path, code: str, case: str) -> None:
    connector, holds = FILES[(code, case)](tmp_path)
    records: list[Record] = [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()]
    assert reported(connector, code, case), f"{code} / {case} not triggered: {connector.problems.to_list()}"
    assert holds(records), f"{code} / {case}: not what the table says"


def test_every_row_has_a_case() -> None:
    assert sorted((r.code, r.case) for r in OUTCOMES.rules) == sorted([*SCHOOL, *FILES])
