"""docs/problems.md repeats the onde reader's outcomes table, and the reader does what each row says:
every row has a case below that triggers it and checks the record is kept or dropped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ent_migrate.connectors.onde import OndeConnector
from ent_migrate.connectors.onde._outcomes import OUTCOMES
from ent_migrate.connectors.onde._text import MAX_CELL_CHARS, MAX_LINE_BYTES
from ent_migrate.model import Guardianship, Person, Profile, Record
from tests.connectors.onde.test_onde import GUARDIANS, PUPILS_ONDE, TEACHERS, UAI, guardian_row, pupil_row

DOC = Path(__file__).resolve().parents[3] / "docs" / "problems.md"


def test_the_doc_repeats_the_table() -> None:
    lines = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| onde |")]
    assert lines == OUTCOMES.markdown_rows()


def _lines(path: Path, lines: list[str]) -> None:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Record], OndeConnector]:
    folder = tmp_path_factory.mktemp("ecole")
    pupils = [
        PUPILS_ONDE,
        pupil_row("UN", "Anne", "01/09/2017", "1234567890A", "CP"),  # 2: control
        pupil_row("DEUX", "Bea", "02/09/2017", "1234567890A", "CP"),  # 3: duplicate INE
        pupil_row("TROIS", "Cleo", "03/09/2017", "", "CP"),  # 4: no INE
        pupil_row("", "Dora", "04/09/2017", "1234567890C", "CP"),  # 5: no last name
        pupil_row("CINQ", "", "05/09/2017", "1234567890D", "CP"),  # 6: no first name
        pupil_row("SIX", "Eva", "", "1234567890E", "CP"),  # 7: no birth date
        pupil_row("SEPT", "Fanny", "31/02/2017", "1234567890F", "CP"),  # 8: impossible date
        pupil_row("TROIS", "Cleo", "03/09/2017", "", "CP"),  # 9: the same pupil again
        pupil_row("X" * (MAX_CELL_CHARS + 1), "Gus", "01/01/2017", "1234567890G", "CP"),  # 10: a huge cell
        '"Kim";"Lee"',  # 11: after a failure, not the header's width: maybe the inside of a cell
        pupil_row("HUIT", "Hugo", "01/01/2017", "1234567890H", "CP"),  # 12
        pupil_row("HUIT", "Hugo", "02/01/2017", "1234567890I", "CP"),  # 13: Hugo's homonym
        '"OPEN;;Iris;01/01/2017',  # 14: a quote left open, to the end
        pupil_row("NEUF", "Jade", "01/01/2017", "1234567890J", "CP").replace('"', ""),  # 15: read again
    ]
    _lines(folder / "eleves.csv", pupils)
    with (folder / "eleves.csv").open("ab") as fh:  # 16: a line over the cap, 17: bytes not in UTF-8
        fh.write(b"z" * (MAX_LINE_BYTES + 1) + b"\n")
        fh.write(b"\xff\xfe not in the file's encoding\r\n")
    guardians = [
        GUARDIANS,
        guardian_row("UN", "Paul", ("UN", "Anne", "CP")),  # 2: control
        guardian_row("", "Nadia", ("UN", "Anne", "CP")),  # 3: no name
        guardian_row("SEUL", "Sam"),  # 4: no child
        guardian_row("DUPONT", "Jean", ("NOBODY", "Lou", "CM2")),  # 5: no such pupil
        guardian_row("HUIT", "Lise", ("HUIT", "Hugo", "CP")),  # 6: two pupils match
        guardian_row("UN", "Rose", ("UN", "", "CP")),  # 7: a child without first name
    ]
    _lines(folder / "resp.csv", guardians)
    teachers = [TEACHERS, '"MME";;"DURAND";"Anne";;;;;;;;"oui";"CP"', '"M.";;"";"Marc";;;;;;;;"non";"CM1"']
    _lines(folder / "profs.csv", teachers)
    _lines(folder / "other.csv", ["a;b;c", "1;2;3"])
    connector = OndeConnector(str(folder), {"uai": UAI})
    return [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()], connector


def _first_names(records: list[Record], profile: Profile) -> list[str]:
    return sorted(r.first_name for r in records if isinstance(r, Person) and r.profile is profile)


def _pupils(records: list[Record]) -> list[str]:
    return _first_names(records, Profile.STUDENT)


def _guardians(records: list[Record]) -> list[str]:
    return _first_names(records, Profile.GUARDIAN)


def _links(records: list[Record]) -> int:
    return sum(isinstance(r, Guardianship) for r in records)


def _person(records: list[Record], first: str) -> Person:
    (found,) = [r for r in records if isinstance(r, Person) and r.first_name == first]
    return found


Check = Callable[[list[Record]], bool]
PUPILS = ["Anne", "Cleo", "Eva", "Fanny", "Hugo", "Hugo", "Jade"]
CASES: dict[tuple[str, str], tuple[str, Check]] = {
    ("file.unknown", "not an ONDE pupils, guardians or teachers header"): ("other.csv:1", lambda r: True),
    ("ine.duplicate", "INE of an earlier row"): ("eleves.csv:3", lambda r: "Bea" not in _pupils(r)),
    ("ine.missing", "empty INE"): ("eleves.csv:4", lambda r: _person(r, "Cleo").ine is None),
    ("record.missing-field", "pupil last name"): ("eleves.csv:5", lambda r: "Dora" not in _pupils(r)),
    ("record.missing-field", "pupil first name"): ("eleves.csv:6", lambda r: _pupils(r) == PUPILS),
    ("record.missing-field", "pupil birth date"): ("eleves.csv:7", lambda r: _person(r, "Eva").birth_date is None),
    ("date.invalid", "birth date: neither dd/mm/yyyy nor yyyy-mm-dd"): (
        "eleves.csv:8",
        lambda r: _person(r, "Fanny").birth_date is None,
    ),
    ("record.invalid", "same pupil (names and birth date) twice"): ("eleves.csv:9", lambda r: _pupils(r) == PUPILS),
    ("record.invalid", "a cell over the size cap"): ("eleves.csv:10", lambda r: "Gus" not in _pupils(r)),
    ("record.invalid", "not a CSV record"): ("eleves.csv:11", lambda r: "Lee" not in _pupils(r)),
    ("record.invalid", "a quote left open"): ("eleves.csv:14", lambda r: "Iris" not in _pupils(r)),
    ("record.invalid", "a line over the size cap"): ("eleves.csv:16", lambda r: _pupils(r) == PUPILS),
    ("encoding.unsupported", "bytes not in the file's encoding"): ("eleves.csv:17", lambda r: _pupils(r) == PUPILS),
    ("record.missing-field", "guardian name"): ("resp.csv:3", lambda r: "Nadia" not in _guardians(r)),
    ("guardian.orphan", "no child"): ("resp.csv:4", lambda r: "Sam" in _guardians(r)),
    ("link.unresolved", "child N: no pupil"): ("resp.csv:5", lambda r: "Jean" in _guardians(r) and _links(r) == 1),
    ("link.ambiguous", "child N: N pupils"): ("resp.csv:6", lambda r: "Lise" in _guardians(r) and _links(r) == 1),
    ("record.missing-field", "guardian child N name"): ("resp.csv:7", lambda r: "Rose" in _guardians(r)),
    ("record.missing-field", "teacher name"): ("profs.csv:3", lambda r: _first_names(r, Profile.TEACHER) == ["Anne"]),
}


def _reported(connector: OndeConnector, code: str, case: str, where: str) -> bool:
    for problem in connector.problems:
        if problem.code == code:
            for place, detail in problem.occurrences:
                rule = OUTCOMES.rule_for(code, detail)
                if place == where and rule is not None and rule.case == case:
                    return True
    return False


@pytest.mark.parametrize(("code", "case"), sorted(CASES))
def test_the_reader_does_what_the_row_says(school: tuple[list[Record], OndeConnector], code: str, case: str) -> None:
    records, connector = school
    where, holds = CASES[(code, case)]
    assert _reported(connector, code, case, where), f"{code} / {case} not at {where}: {connector.problems.to_list()}"
    assert holds(records), f"{code} / {case}: not what the table says"


def test_every_row_has_a_case() -> None:
    assert sorted((r.code, r.case) for r in OUTCOMES.rules) == sorted(CASES)
