"""The siecle connector: a small complete export (tests/connectors/siecle/data/college), then hostile files."""

from __future__ import annotations

import codecs
import datetime as dt
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.connectors.siecle import SiecleConnector
from ent_migrate.connectors.siecle._values import OLD_TO_NEW_KINSHIP, kinship, parse_date
from ent_migrate.contract import Capability
from ent_migrate.errors import InputError
from ent_migrate.model import Function, Group, GroupKind, Guardianship, Membership, Person, Profile, Record
from ent_migrate.registry import open_connector

COLLEGE = Path(__file__).resolve().parent / "data" / "college"
UAI = "0350001L"


def read_all(connector: SiecleConnector) -> list[Record]:
    return [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()]


def keys(records: list[Record]) -> set[str]:
    return {f"{r.kind}:{r.key}" for r in records}


def examples(connector: SiecleConnector, code: str) -> list[str]:
    for problem in connector.problems:
        if problem.code == code:
            return problem.examples
    return []


def eleves(pupils: str, structures: str = "", *, structures_first: bool = True, uaj: str = UAI) -> str:
    blocks = [f"<STRUCTURES>{structures}</STRUCTURES>", f"<ELEVES>{pupils}</ELEVES>"]
    if not structures_first:
        blocks.reverse()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<BEE_ELEVES VERSION="2.1">\n'
        f"<PARAMETRES><UAJ>{uaj}</UAJ></PARAMETRES>\n<DONNEES>\n" + "\n".join(blocks) + "\n</DONNEES>\n</BEE_ELEVES>\n"
    )


def eleve(
    eleve_id: str,
    ine: str | None = "",
    last: str = "NOM",
    first: str = "Prénom",
    birth: str = "01/01/2013",
    extra: str = "",
    sex: str = "1",
) -> str:
    """An ELEVE; *ine* "" leaves ID_NATIONAL out (a pupil to come), None writes it empty."""
    ine_xml = "<ID_NATIONAL></ID_NATIONAL>" if ine is None else f"<ID_NATIONAL>{ine}</ID_NATIONAL>" if ine else ""
    sex_xml = f"<CODE_SEXE>{sex}</CODE_SEXE>" if sex else ""
    return (
        f'<ELEVE ELEVE_ID="{eleve_id}">{ine_xml}<NOM_DE_FAMILLE>{last}</NOM_DE_FAMILLE>'
        f"<PRENOM>{first}</PRENOM>{sex_xml}<DATE_NAISS>{birth}</DATE_NAISS>{extra}</ELEVE>\n"
    )


def structure(eleve_id: str, *codes: tuple[str, str]) -> str:
    inner = "".join(
        f"<STRUCTURE><CODE_STRUCTURE>{c}</CODE_STRUCTURE><TYPE_STRUCTURE>{t}</TYPE_STRUCTURE></STRUCTURE>"
        for c, t in codes
    )
    return f'<STRUCTURES_ELEVE ELEVE_ID="{eleve_id}">{inner}</STRUCTURES_ELEVE>\n'


def responsables(persons: str, links: str, uaj: str = UAI) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<BEE_RESPONSABLES VERSION="2.1">\n'
        f"<PARAMETRES><UAJ>{uaj}</UAJ></PARAMETRES>\n<DONNEES>\n<PERSONNES>\n{persons}</PERSONNES>\n"
        f"<RESPONSABLES>\n{links}</RESPONSABLES>\n</DONNEES>\n</BEE_RESPONSABLES>\n"
    )


def personne(personne_id: str, last: str = "PARENT", first: str = "Alex") -> str:
    names = f"<NOM_DE_FAMILLE>{last}</NOM_DE_FAMILLE><PRENOM>{first}</PRENOM>"
    return f'<PERSONNE PERSONNE_ID="{personne_id}">{names}</PERSONNE>\n'


def lien(eleve_id: str, personne_id: str, fields: str) -> str:
    ids = f"<ELEVE_ID>{eleve_id}</ELEVE_ID><PERSONNE_ID>{personne_id}</PERSONNE_ID>"
    return f"<RESPONSABLE_ELEVE>{ids}{fields}</RESPONSABLE_ELEVE>\n"


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


# -- the complete small export --------------------------------------------------------------------------


EXPECTED_PROBLEMS = {
    "guardian.orphan": ["ResponsablesAvecAdresses.xml:21"],  # 2003 only guards a pupil who left
    "pupil.inactive": ["ElevesSansAdresses.xml:18"],
    "pupil.left": ["ElevesSansAdresses.xml:52"],
    "pupil.no-class": ["ElevesSansAdresses.xml:21"],
    "pupil.not-arrived": ["ElevesSansAdresses.xml:60"],
}


def test_college_export() -> None:
    connector = SiecleConnector(str(COLLEGE))
    records = read_all(connector)
    assert {p.code: p.examples for p in connector.problems} == EXPECTED_PROBLEMS
    people = {r.id: r for r in records if isinstance(r, Person)}
    # 1003 inactive, 1004 left, 1005 not arrived: not migrated; 2003 only guards a pupil who left
    assert set(people) == {"1001", "1002", "1006", "2001", "2002", "4001", "4002"}
    chloe = people["1001"]
    assert (chloe.last_name, chloe.first_name, chloe.other_first_names) == ("LEFÈVRE", "Chloé", ("Œlia",))
    assert chloe.birth_date == dt.date(2013, 3, 14)
    assert chloe.ine == "0123456789A"
    assert people["1002"].last_name == "MARTIN-DURAND"  # the usage name is the name in use
    assert people["1002"].birth_name == "MARTIN"  # and the birth name is kept
    assert chloe.birth_name is None  # no usage name: last_name is the birth name
    assert people["2001"].emails == ("parent1@example.org",)
    assert people["2001"].civility == "Mme"
    assert people["4001"].profile is Profile.TEACHER
    assert people["4001"].birth_date == dt.date(1980, 4, 2)
    assert people["4002"].profile is Profile.STAFF
    functions = {(f.person_id, f.code, f.discipline) for f in records if isinstance(f, Function)}
    assert functions == {("4001", "ENS", "L0422"), ("4001", "ENS", "L0202"), ("4002", "DIR", None)}
    groups = {g.code: (g.group_kind, g.name) for g in records if isinstance(g, Group)}
    assert groups == {
        "6A": (GroupKind.CLASS, "6EME A"),
        "6B": (GroupKind.CLASS, "6EME B"),
        "6LAT": (GroupKind.GROUP, "LATIN 6E"),
    }
    memberships = {(m.person_id, m.group_code, m.subject) for m in records if isinstance(m, Membership)}
    assert memberships == {
        ("1001", "6A", None),
        ("1001", "6LAT", None),
        ("1002", "6A", None),
        ("1006", "6LAT", None),
        ("4001", "6A", "030201"),
        ("4001", "6LAT", "020700"),
    }
    links = {(g.guardian_id, g.student_id, g.legal_level, g.kinship) for g in records if isinstance(g, Guardianship)}
    assert links == {("2001", "1001", 1, "10"), ("2002", "1002", 1, "20"), ("2002", "1006", 3, "90")}


def test_registered_and_reads_are_repeatable() -> None:
    connector = open_connector(f"siecle:{COLLEGE}", {"id_prefix": "AC-RENNES$"})
    assert isinstance(connector, SiecleConnector)
    assert connector.capabilities == {Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS}
    first = read_all(connector)
    second = read_all(connector)
    assert first == second
    assert all(r.id.startswith("AC-RENNES$") for r in first if isinstance(r, Person))
    # problems are counted once however many times the source is read
    assert connector.problems.count("pupil.left") == 1


def test_zipped_export_and_folder_of_zips(tmp_path: Path) -> None:
    expected = keys(read_all(SiecleConnector(str(COLLEGE))))
    archive = tmp_path / "ExportXML.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(COLLEGE.iterdir()):
            zf.write(path, f"export/{path.name}")
    zipped = SiecleConnector(str(archive))
    assert keys(read_all(zipped)) == expected
    assert examples(zipped, "pupil.left") == ["ExportXML.zip:export/ElevesSansAdresses.xml:52"]
    folder = tmp_path / "folder"
    folder.mkdir()
    with zipfile.ZipFile(folder / "ExportXML_ElevesSansAdresses.zip", "w") as zf:
        zf.write(COLLEGE / "ElevesSansAdresses.xml", "ElevesSansAdresses.xml")
    for name in ("ResponsablesAvecAdresses.xml", "sts_emp_0350001L_2024.xml", "Nomenclature.xml"):
        shutil.copy(COLLEGE / name, folder / name)
    assert keys(read_all(SiecleConnector(str(folder)))) == expected


def test_both_eleves_variants_read_once(tmp_path: Path) -> None:
    shutil.copytree(COLLEGE, tmp_path / "x")
    shutil.copy(COLLEGE / "ElevesSansAdresses.xml", tmp_path / "x" / "ElevesAvecAdresses.xml")
    records = read_all(SiecleConnector(str(tmp_path / "x")))
    assert keys(records) == keys(read_all(SiecleConnector(str(COLLEGE))))
    assert len(records) == len(keys(records))


def test_unrecognised_and_edt_sts_files(tmp_path: Path) -> None:
    write(tmp_path, "ElevesSansAdresses.xml", eleves(eleve("1", "0123456789A"), structure("1", ("6A", "D"))))
    write(tmp_path, "emp_sts_0350001L_2024.xml", "<?xml version='1.0'?><EDT_STS><PARAMETRES/></EDT_STS>")
    write(tmp_path, "notes.txt", "hello")
    connector = SiecleConnector(str(tmp_path))
    assert [r.id for r in connector.read_accounts() if isinstance(r, Person)] == ["1"]
    assert sorted(examples(connector, "file.unknown")) == ["emp_sts_0350001L_2024.xml", "notes.txt"]


# -- generations, order, encodings ------------------------------------------------------------------


@pytest.mark.parametrize("structures_first", [True, False])
def test_structures_before_or_after_eleves(tmp_path: Path, structures_first: bool) -> None:
    pupils = eleve("1", "0123456789A") + eleve("2", "0123456789B") + eleve("3", "0123456789C")
    structs = structure("1", ("6A", "D")) + structure("2", ("Inactifs", "D")) + structure("3", ("LAT", "G"))
    write(tmp_path, "e.xml", eleves(pupils, structs, structures_first=structures_first))
    connector = SiecleConnector(str(tmp_path))
    records = read_all(connector)
    assert sorted(r.id for r in records if isinstance(r, Person)) == ["1", "3"]
    assert {(m.person_id, m.group_code) for m in records if isinstance(m, Membership)} == {("1", "6A"), ("3", "LAT")}
    assert {(g.code, g.group_kind) for g in records if isinstance(g, Group)} == {
        ("6A", GroupKind.CLASS),
        ("LAT", GroupKind.GROUP),
    }
    assert connector.problems.count("pupil.inactive") == 1
    assert connector.problems.count("pupil.no-class") == 1


def test_both_responsables_generations(tmp_path: Path) -> None:
    write(tmp_path, "e.xml", eleves(eleve("1", "0123456789A") + eleve("2", "0123456789B")))
    old = responsables(
        personne("10") + personne("11") + personne("12"),
        lien("1", "10", "<RESP_LEGAL>1</RESP_LEGAL><CODE_PARENTE>1</CODE_PARENTE>")
        + lien("1", "11", "<RESP_LEGAL>2</RESP_LEGAL><CODE_PARENTE>2</CODE_PARENTE>")
        + lien("2", "12", "<RESP_LEGAL>0</RESP_LEGAL><CODE_PARENTE>5</CODE_PARENTE>"),
    )
    write(tmp_path, "r.xml", old, "iso-8859-15")
    records = read_all(SiecleConnector(str(tmp_path)))
    links = {(g.guardian_id, g.student_id, g.legal_level, g.kinship) for g in records if isinstance(g, Guardianship)}
    # old codes are translated: 1 père → 20, 2 mère → 10, 5 DDASS/ASE → 51
    assert links == {("10", "1", 1, "20"), ("11", "1", 1, "10"), ("12", "2", 0, "51")}
    new = responsables(
        personne("10"),
        lien("1", "10", "<NIVEAU_RESPONSABILITE>2</NIVEAU_RESPONSABILITE><CODE_PARENTE>42</CODE_PARENTE>"),
    )
    write(tmp_path, "r.xml", new)
    records = read_all(SiecleConnector(str(tmp_path)))
    assert [(g.legal_level, g.kinship) for g in records if isinstance(g, Guardianship)] == [(2, "42")]


@pytest.mark.parametrize(
    ("declaration", "encoding", "prefix"),
    [
        ("ISO-8859-15", "iso-8859-15", b""),
        ("UTF-8", "utf-8", b""),
        ("UTF-8", "utf-8", codecs.BOM_UTF8),
    ],
)
def test_encodings_and_bom(tmp_path: Path, declaration: str, encoding: str, prefix: bytes) -> None:
    text = eleves(eleve("1", "0123456789A", "CŒUR", "Zoé"), structure("1", ("6A", "D")))
    text = text.replace('encoding="UTF-8"', f'encoding="{declaration}"')
    (tmp_path / "e.xml").write_bytes(prefix + text.encode(encoding))
    connector = SiecleConnector(str(tmp_path))
    (pupil,) = [r for r in connector.read_accounts() if isinstance(r, Person)]
    assert (pupil.last_name, pupil.first_name) == ("CŒUR", "Zoé")
    assert connector.problems.to_list() == []


# -- hostile files ---------------------------------------------------------------------------------


def test_malformed_xml_keeps_records_before_the_fault(tmp_path: Path) -> None:
    text = eleves(eleve("1", "0123456789A") + eleve("2", "0123456789B") + "<ELEVE ELEVE_ID='3'><NOM>X</PRENOM>\n")
    write(tmp_path, "e.xml", text)
    connector = SiecleConnector(str(tmp_path))
    assert [r.id for r in connector.read_accounts() if isinstance(r, Person)] == ["1", "2"]
    (where,) = examples(connector, "xml.malformed")
    assert where.startswith("e.xml:")
    assert int(where.split(":")[1]) >= 6


def test_doctype_with_entities_is_refused(tmp_path: Path) -> None:
    text = eleves(eleve("1", "0123456789A", last="&lol;")).replace(
        "<BEE_ELEVES", '<!DOCTYPE BEE_ELEVES [<!ENTITY lol "lollollol">]>\n<BEE_ELEVES', 1
    )
    write(tmp_path, "e.xml", text)
    connector = SiecleConnector(str(tmp_path), {"expect_uai": UAI})
    assert [r for r in connector.read_accounts() if isinstance(r, Person)] == []
    assert examples(connector, "xml.dtd-forbidden") == ["e.xml:2"]


def test_declared_utf8_with_latin_bytes(tmp_path: Path) -> None:
    (tmp_path / "e.xml").write_bytes(eleves(eleve("1", "0123456789A", "ÉTÉ")).encode("iso-8859-15"))
    connector = SiecleConnector(str(tmp_path), {"expect_uai": UAI})
    list(connector.read_accounts())
    assert [w.split(":")[0] for w in examples(connector, "encoding.unsupported")] == ["e.xml"]


def test_uai_mismatch_and_missing(tmp_path: Path) -> None:
    write(tmp_path, "e.xml", eleves(eleve("1", "0123456789A"), structure("1", ("6A", "D"))))
    connector = SiecleConnector(str(tmp_path), {"expect_uai": "0350002M"})
    list(connector.read_accounts())
    assert examples(connector, "uai.mismatch") == ["e.xml:3"]
    write(tmp_path, "e.xml", eleves(eleve("1", "0123456789A"), uaj=""))
    connector = SiecleConnector(str(tmp_path))
    with pytest.raises(InputError, match="expect_uai"):
        list(connector.read_accounts())
    assert examples(connector, "uai.missing") == ["e.xml:3"]
    connector = SiecleConnector(str(tmp_path), {"expect_uai": UAI})
    assert next(iter(connector.read_accounts())).key == UAI


def test_missing_fields_bad_dates_duplicate_ine(tmp_path: Path) -> None:
    pupils = (
        eleve("1", "0123456789A")  # line 6
        + eleve("2", "0123456789A")  # line 7: duplicate INE
        + eleve("3", "0123456789C", last="")  # line 8: no name
        + eleve("4", "0123456789D", birth="")  # line 9: no birth date (kept)
        + eleve("5", "0123456789E", birth="2013-01-01")  # line 10: STS format in BEE
        + eleve("6", "0123456789F", birth="31/02/2013")  # line 11: impossible date
        + "<ELEVE><ID_NATIONAL>0123456789G</ID_NATIONAL></ELEVE>\n"  # line 12: no ELEVE_ID
    )
    write(tmp_path, "e.xml", eleves(pupils))
    connector = SiecleConnector(str(tmp_path))
    people = {r.id: r for r in connector.read_accounts() if isinstance(r, Person)}
    assert sorted(people) == ["1", "4", "5", "6"]
    assert people["5"].birth_date is None
    assert examples(connector, "ine.duplicate") == ["e.xml:7"]
    assert sorted(examples(connector, "record.missing-field")) == ["e.xml:12", "e.xml:8", "e.xml:9"]
    assert examples(connector, "date.invalid") == ["e.xml:10", "e.xml:11"]


def test_sts_bad_date_and_dangling_teacher(tmp_path: Path) -> None:
    sts = (COLLEGE / "sts_emp_0350001L_2024.xml").read_text("iso-8859-1")
    sts = sts.replace("1980-04-02", "02/04/1980").replace("1970-01-20", "1970-13-45")
    # the 6A service (the first one) names a teacher STS does not hold
    sts = sts.replace('<ENSEIGNANT ID="4001"', '<ENSEIGNANT ID="9999"', 1)
    write(tmp_path, "sts.xml", sts, "iso-8859-1")
    connector = SiecleConnector(str(tmp_path))
    records = read_all(connector)
    people = {r.id: r for r in records if isinstance(r, Person)}
    assert people["4001"].birth_date == dt.date(1980, 4, 2)  # BEE form tolerated in STS
    assert people["4002"].birth_date is None
    assert [w.split(":")[0] for w in examples(connector, "date.invalid")] == ["sts.xml"]
    assert len(examples(connector, "ref.dangling")) == 1
    assert ("9999", "6A") not in {(m.person_id, m.group_code) for m in records if isinstance(m, Membership)}


def test_dangling_references_and_orphans(tmp_path: Path) -> None:
    shutil.copy(COLLEGE / "sts_emp_0350001L_2024.xml", tmp_path / "sts.xml")
    write(
        tmp_path,
        "e.xml",
        eleves(
            eleve("1", "0123456789A") + eleve("2", "0123456789B"),
            structure("1", ("6A", "D")) + structure("2", ("5Z", "D")) + structure("9", ("6A", "D")),
        ),
    )
    write(
        tmp_path,
        "r.xml",
        responsables(
            personne("10") + personne("11"),  # lines 6, 7
            lien("1", "10", "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>")  # line 10
            + lien("1", "99", "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>")  # line 11: no such person
            + lien("8", "10", "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>"),  # line 12: no such pupil
        ),
    )
    connector = SiecleConnector(str(tmp_path))
    records = read_all(connector)
    dangling = sorted(examples(connector, "ref.dangling"))
    # pupil 2 in a class STS does not define (line 6), structures of a pupil with no ELEVE (line 7),
    # and the two bad links
    assert dangling == ["e.xml:6", "e.xml:7", "r.xml:11", "r.xml:12"]
    assert examples(connector, "guardian.orphan") == ["r.xml:7"]
    assert ("2", "5Z") not in {(m.person_id, m.group_code) for m in records if isinstance(m, Membership)}
    assert "5Z" not in {g.code for g in records if isinstance(g, Group)}
    guardians = [r.id for r in records if isinstance(r, Person) and r.profile is Profile.GUARDIAN]
    assert guardians == ["10"]
    assert [(g.guardian_id, g.student_id) for g in records if isinstance(g, Guardianship)] == [("10", "1")]


def test_missing_location(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nowhere"):
        list(SiecleConnector(str(tmp_path / "nowhere")).read_accounts())


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_dates_of_both_generations_parse(day: dt.date) -> None:
    assert parse_date(day.strftime("%d/%m/%Y"), iso=False) == day
    assert parse_date(day.isoformat(), iso=True) == day
    assert parse_date(day.isoformat(), iso=False) is None  # BEE is dd/mm/yyyy only


@given(st.sampled_from(sorted(OLD_TO_NEW_KINSHIP)))
def test_old_kinship_codes_are_translated(code: str) -> None:
    assert kinship(code) == OLD_TO_NEW_KINSHIP[code]
    assert kinship(OLD_TO_NEW_KINSHIP[code]) == OLD_TO_NEW_KINSHIP[code]  # new codes pass through


def test_unsafe_zip_member_is_skipped_and_reported(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ElevesSansAdresses.xml", eleves(eleve("1", "0123456789A"), structure("1", ("6A", "D"))))
        zf.writestr("../ElevesAvecAdresses.xml", eleves(eleve("2", "0123456789B"), structure("2", ("6A", "D"))))
    connector = SiecleConnector(str(archive))
    assert [r.id for r in connector.read_accounts() if isinstance(r, Person)] == ["1"]
    assert connector.problems.count("archive.unsafe-member") == 1


def test_nameless_guardian_and_teacher_are_refused_with_their_links(tmp_path: Path) -> None:
    sts = (COLLEGE / "sts_emp_0350001L_2024.xml").read_text("iso-8859-1").replace("<PRENOM>Sophie</PRENOM>", "")
    write(tmp_path, "sts.xml", sts, "iso-8859-1")
    write(tmp_path, "e.xml", eleves(eleve("1", "0123456789A"), structure("1", ("6A", "D"))))
    write(
        tmp_path,
        "r.xml",
        responsables(personne("10", first=""), lien("1", "10", "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>")),
    )
    connector = SiecleConnector(str(tmp_path))
    records = read_all(connector)
    assert sorted(r.id for r in records if isinstance(r, Person)) == ["1", "4002"]
    assert [r for r in records if isinstance(r, Guardianship)] == []
    assert {m.person_id for m in records if isinstance(m, Membership)} == {"1"}
    assert sorted(w.split(":")[0] for w in examples(connector, "record.missing-field")) == ["r.xml", "sts.xml"]
    assert connector.problems.count("ref.dangling") == 0


def test_an_id_used_by_two_kinds_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "e.xml", eleves(eleve("10", "0123456789A") + eleve("11", "0123456789B")))
    links = lien("11", "10", "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>")
    links += lien("10", "20", "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>")
    write(tmp_path, "r.xml", responsables(personne("10") + personne("20"), links))  # PERSONNE 10 = ELEVE 10
    connector = SiecleConnector(str(tmp_path))
    records = read_all(connector)
    people = sorted((r.id, r.profile) for r in records if isinstance(r, Person))
    assert people == [("10", Profile.STUDENT), ("11", Profile.STUDENT), ("20", Profile.GUARDIAN)]
    assert [(g.guardian_id, g.student_id) for g in records if isinstance(g, Guardianship)] == [("20", "10")]
    assert examples(connector, "record.invalid") == ["r.xml:6"]
