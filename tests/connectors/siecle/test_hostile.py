"""Hostile SIECLE files (issue 9 item 4, issue 8 item 11): a prolog over 64 KiB, UTF-16, an empty file
are the XML problems the AAF reader reports for them — never the warning ``file.unknown`` — and when
reading stops early that problem is what is reported, not "no file holds PARAMETRES/UAJ"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ent_migrate.cli._inspect import inspect_source
from ent_migrate.connectors.siecle import SiecleConnector
from ent_migrate.errors import ConfigError, InputError
from ent_migrate.model import Person, Record
from ent_migrate.xmlsafe import PROLOG_LIMIT
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

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
LEVEL1 = "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>"


def read(folder: Path, options: dict[str, str] | None = None) -> tuple[list[Record], SiecleConnector]:
    connector = SiecleConnector(str(folder), options)
    return [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()], connector


def codes(connector: SiecleConnector) -> dict[str, list[str]]:
    return {p.code: p.examples for p in connector.problems}


@pytest.mark.parametrize(
    ("name", "code", "line"),
    [
        ("utf16-bom.xml", "encoding.unsupported", 1),
        ("utf16-no-bom.xml", "encoding.unsupported", 1),
        ("empty.xml", "xml.malformed", 1),
        ("blank.xml", "xml.malformed", None),
        ("prolog-64k-entity.xml", "xml.dtd-forbidden", None),
    ],
)
def test_a_hostile_file_alone_reports_its_own_problem(tmp_path: Path, name: str, code: str, line: int | None) -> None:
    shutil.copy(HOSTILE / name, tmp_path / name)
    records, connector = read(tmp_path)  # no expect_uai, no UAJ readable: still no InputError
    assert records == []
    found = codes(connector)
    assert list(found) == [code], found  # neither file.unknown nor uai.missing
    (where,) = found[code]
    assert where.startswith(f"{name}:")
    if line is not None:
        assert where == f"{name}:{line}"


@pytest.mark.parametrize("name", ["utf16-bom.xml", "utf16-no-bom.xml", "empty.xml", "prolog-64k-entity.xml"])
def test_a_hostile_file_beside_good_ones_loses_only_itself(tmp_path: Path, name: str) -> None:
    shutil.copy(HOSTILE / name, tmp_path / name)
    write(tmp_path, "r.xml", responsables(personne("P1"), lien("1", "P1", LEVEL1)))
    shutil.copy(COLLEGE / "sts_emp_0350001L_2024.xml", tmp_path / "sts.xml")
    records, connector = read(tmp_path)
    assert {r.id for r in records if isinstance(r, Person)} == {"4001", "4002"}  # the pupil file is lost
    assert connector.problems.has_errors
    assert "file.unknown" not in codes(connector)


def test_a_prolog_over_64k_before_a_clean_root_is_read() -> None:
    records, connector = read(HOSTILE / "prolog-64k-clean.xml")
    assert [r.id for r in records if isinstance(r, Person)] == ["1"]
    assert connector.problems.to_list() == []


def test_a_prolog_longer_than_the_sniffing_limit_is_malformed(tmp_path: Path) -> None:
    text = eleves(eleve("1", "0000000001A"), structure("1", ("6A", "D")))
    text = text.replace("<BEE_ELEVES", "<!-- " + "x" * PROLOG_LIMIT + " -->\n<BEE_ELEVES", 1)
    write(tmp_path, "e.xml", text)
    records, connector = read(tmp_path)
    assert records == []
    assert list(codes(connector)) == ["xml.malformed"]


def test_a_truncated_file_keeps_what_came_before(tmp_path: Path) -> None:
    text = eleves(eleve("1", "0000000001A") + eleve("2", "0000000002A"), structure("1", ("6A", "D")))
    write(tmp_path, "e.xml", text[: text.index('<ELEVE ELEVE_ID="2"') + 30])
    records, connector = read(tmp_path)
    assert [r.id for r in records if isinstance(r, Person)] == ["1"]
    assert list(codes(connector)) == ["xml.malformed"]


def test_a_file_without_uaj_is_an_error_when_a_uai_is_expected(tmp_path: Path) -> None:
    plain = eleves(eleve("1", "0000000001A"), structure("1", ("6A", "D")))
    write(tmp_path, "e.xml", plain.replace(f"<PARAMETRES><UAJ>{UAI}</UAJ></PARAMETRES>", ""))
    records, connector = read(tmp_path, {"expect_uai": UAI})
    assert [r.id for r in records if isinstance(r, Person)] == ["1"]  # kept, under the expected UAI
    assert codes(connector) == {"uai.missing": ["e.xml"]}
    assert connector.problems.has_errors
    with pytest.raises(InputError, match="expect_uai"):  # without it: nothing to key the records by
        read(tmp_path)


def test_no_siecle_file_at_all_says_so(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "hello")
    with pytest.raises(InputError, match="no SIECLE or STS-web file"):
        read(tmp_path)


def test_uai_options_are_checked_with_their_letter() -> None:
    with pytest.raises(ConfigError, match="wrong check letter"):
        SiecleConnector(str(COLLEGE), {"expect_uai": "0350001A"})
    with pytest.raises(ConfigError, match="not 7 digits"):
        SiecleConnector(str(COLLEGE), {"expect_uai": "35001L"})


def test_empty_and_absent_id_national_are_told_apart(tmp_path: Path) -> None:
    write(tmp_path, "e.xml", eleves(eleve("1", None) + eleve("2", "")))
    records, connector = read(tmp_path)
    assert [(r.id, r.ine) for r in records if isinstance(r, Person)] == [("1", None)]
    found = {p.code: (p.severity, p.examples, p.details) for p in connector.problems}
    assert found["ine.missing"] == ("error", ["e.xml:6"], ["empty ID_NATIONAL"])
    assert found["pupil.not-arrived"] == ("warning", ["e.xml:7"], ["no ID_NATIONAL"])


def test_inspect_json_keeps_the_details(tmp_path: Path) -> None:
    write(tmp_path, "e.xml", eleves(eleve("1", "0000000001A")))
    write(tmp_path, "r.xml", responsables(personne("P1"), lien("1", "P1", LEVEL1) + lien("1", "P9", LEVEL1)))
    summary = inspect_source(f"siecle:{tmp_path}")
    dangling = next(p for p in summary["problems"] if p["code"] == "ref.dangling")
    assert dangling["details"] == ["RESPONSABLE_ELEVE to an unknown PERSONNE_ID"]
    assert dangling["examples"] == ["r.xml:10"]


@pytest.mark.parametrize("location", ["/dev/zero", "/dev/null"])
def test_an_endless_or_special_file_is_refused(location: str) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        read(Path(location))
