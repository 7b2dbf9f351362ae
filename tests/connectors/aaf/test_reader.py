"""The aaf reader: real samples, the mapping to canonical records, and each problem code with file:line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from ent_migrate.errors import ConfigError
from ent_migrate.model import Function, Group, GroupKind, Guardianship, Membership, Person, Profile, Structure
from ent_migrate.registry import open_connector
from tests.connectors.aaf.helpers import (
    document,
    etab,
    guardian,
    line_of,
    problem,
    pupil,
    read_all,
    request,
    staff,
    write_bundle,
)

_R = TypeVar("_R")


def by_type(records: Iterable[object], cls: type[_R]) -> list[_R]:
    return [r for r in records if isinstance(r, cls)]


def test_samples_read_without_format_errors(shared_samples: Path) -> None:
    records, problems = read_all(shared_samples / "aaf")
    structures = {r.uai: r for r in by_type(records, Structure)}
    assert set(structures) == {"0123456A", "0000000V"}  # one UTF-8, one ISO-8859-15
    assert structures["0123456A"] == Structure(
        uai="0123456A", name="CLG INTEGRATION", type="COLLEGE", jointure="43", city="PARIS"
    )
    people = {p.id: p for p in by_type(records, Person)}
    assert people["314159"].profile is Profile.STAFF  # DIR/AEH functions
    assert people["314160"].profile is Profile.TEACHER  # ENS
    assert people["314159"].first_name == "Prénom AAAA"
    assert people["2000000"].ine == "100000000AA"
    assert people["2000000"].birth_date == dt.date(2000, 1, 1)
    functions = by_type(records, Function)
    assert (
        Function(
            person_id="314159", uai="0123456A", code="DIR", discipline="D0011", label="CHEF D'ETABLISSEMENT ADJOINT"
        )
        in functions
    )  # &apos; decoded
    codes = {p["code"] for p in problems}
    # The entcore 2020 pupil points to structure 1000 and guardian 3000000 that the samples do not hold,
    # and lists itself as its own guardian; both sample UAIs have a wrong check letter (synthetic ones).
    assert codes == {"ref.dangling", "record.invalid", "uai.invalid", "file.unknown"}
    assert problem(problems, "record.invalid")["details"] == ["a pupil listed as their own guardian"]
    assert problem(problems, "uai.invalid")["count"] == 2
    unknown = problem(problems, "file.unknown")
    assert unknown["examples"] == ["ENT2DVA-ENT16_Complet_20240916_PersEducNat_0000.after.xml"]


def test_full_2d_mapping(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        {
            "EtabEducNat": document([etab(classes=["6A$6EME A", "6B$6EME B"], groups=["LATIN$Latin"])]),
            "PersRelEleve": document([guardian("500"), guardian("501"), guardian("502")]),
            "Eleve": document(
                [
                    pupil(
                        "100",
                        parents=["500$2$1$1$0$0", "501$20$0$1$0$0", "502$39$0$0$1$0", "500$2$0$2$0$0"],
                        classes=["10$6A"],
                        ENTEleveGroupes=["10$LATIN"],
                        mail=["eleve@example.org"],
                        ENTPersonAutresPrenoms=["Paul", "Jean"],
                    )
                ]
            ),
            "PersEducNat": document(
                [
                    staff(
                        "900",
                        ["10$ENS$ENSEIGNEMENT$L1300$MATHEMATIQUES"],
                        ENTAuxEnsClasses=["10$6A", "10$6B"],
                        ENTAuxEnsClassesMatieres=["10$6A$061300"],
                    ),
                    staff("901", ["10$DOC$DOCUMENTATION$L0080$DOCUMENTATION"]),
                    staff("902", ["10$ADF$PERSONNELS ADMINISTRATIFS$$"]),
                ]
            ),
        },
    )
    records, problems = read_all(bundle)
    assert problems == []
    people = {p.id: p for p in by_type(records, Person)}
    assert people["100"] == Person(
        id="100",
        profile=Profile.STUDENT,
        last_name="ELEVE",
        first_name="Prenom",
        birth_date=dt.date(2013, 9, 1),
        ine="000000100AB",
        emails=("eleve@example.org",),
        structures=("0350001L",),
        other_first_names=("Paul", "Jean"),
        civility="M.",
    )
    assert [people[i].profile for i in ("900", "901", "902")] == [Profile.TEACHER, Profile.TEACHER, Profile.STAFF]
    assert set(by_type(records, Guardianship)) == {
        Guardianship(guardian_id="500", student_id="100", legal_level=1, kinship="10"),  # old 2 (mère) → 10
        Guardianship(guardian_id="501", student_id="100", legal_level=1, kinship="20"),
        Guardianship(guardian_id="502", student_id="100", legal_level=3, kinship="39"),  # contact only
    }
    assert set(by_type(records, Membership)) == {
        Membership(person_id="100", uai="0350001L", group_code="6A"),
        Membership(person_id="100", uai="0350001L", group_code="LATIN"),
        Membership(person_id="900", uai="0350001L", group_code="6A", subject="061300"),
        Membership(person_id="900", uai="0350001L", group_code="6B"),
    }
    assert set(by_type(records, Group)) == {
        Group(uai="0350001L", code="6A", name="6EME A"),
        Group(uai="0350001L", code="6B", name="6EME B"),
        Group(uai="0350001L", code="LATIN", name="Latin", group_kind=GroupKind.GROUP),
    }
    assert Function(person_id="902", uai="0350001L", code="ADF", label="PERSONNELS ADMINISTRATIFS") in records


def test_1d_layouts(tmp_path: Path) -> None:
    one_d = {"ENTPersonNom": "ELEVE", "ENTPersonPrenom": "Lou", "ENTPersonCivilite": "Mme"}
    bundle = write_bundle(
        tmp_path / "b",
        {
            "EtabEducNat": document([etab(classes=[])]),
            "PersRelEleve": document([guardian("500"), guardian("501")]),
            "Eleve": document(
                [
                    pupil(
                        "100",
                        classes=[],
                        sn="",
                        givenName="",
                        personalTitle="",
                        ENTPersonClasses=["10$11$ORDINAIRE$73196$Classe 5 CM1 CM2"],
                        ENTPersonGroupes=["10$21$REGROUPEMENT$73200$Chorale"],
                        ENTEleveAutoriteParentale=["500$1", "501$20"],
                        ENTEleveNiveau="1123$CE2",
                        **one_d,
                    )
                ]
            ),
            "PersEducNat": document(
                [staff("900", ["10$ENS$ENSEIGNEMENT$$"], ENTPersonClasses=["10$11$ORDINAIRE$73196$Classe 5 CM1 CM2"])]
            ),
        },
    )
    records, problems = read_all(bundle)
    assert problems == []
    person = next(p for p in by_type(records, Person) if p.id == "100")
    assert (person.last_name, person.first_name, person.civility) == ("ELEVE", "Lou", "Mme")
    assert set(by_type(records, Group)) == {
        Group(uai="0350001L", code="73196", name="Classe 5 CM1 CM2"),
        Group(uai="0350001L", code="73200", name="Chorale", group_kind=GroupKind.GROUP),
    }
    assert set(by_type(records, Guardianship)) == {
        Guardianship(guardian_id="500", student_id="100", legal_level=1, kinship="20"),  # old 1 (père) → 20
        Guardianship(guardian_id="501", student_id="100", legal_level=1, kinship="20"),
    }
    assert Membership(person_id="900", uai="0350001L", group_code="73196") in records


def test_academy_prefix(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        {
            "EtabEducNat": document([etab()]),
            "PersRelEleve": document([guardian("500")]),
            # one value already prefixed (ESCO style), the others not
            "Eleve": document([pupil("100", parents=["AC-RENNES$500$10$0$1$0$0"], classes=["AC-RENNES$10$6A"])]),
        },
    )
    records, problems = read_all(bundle, academy_prefix="AC-RENNES$")
    assert problems == []
    assert {p.id for p in by_type(records, Person)} == {"AC-RENNES$100", "AC-RENNES$500"}
    assert next(iter(by_type(records, Structure))).jointure == "AC-RENNES$10"
    assert Membership(person_id="AC-RENNES$100", uai="0350001L", group_code="6A") in records
    assert Guardianship(guardian_id="AC-RENNES$500", student_id="AC-RENNES$100", legal_level=1, kinship="10") in records


def test_pages_are_read_in_order_and_categories_in_dependency_order(tmp_path: Path) -> None:
    # Pupils come in file names sorting before the structures and guardians they reference.
    bundle = write_bundle(
        tmp_path / "b",
        {
            "Eleve_1": document([pupil("101", parents=["500$10$0$1$0$0"])]),
            "Eleve_0": document([pupil("100", parents=["500$10$0$1$0$0"])]),
            "PersRelEleve": document([guardian("500")]),
            "EtabEducNat": document([etab()]),
        },
    )
    records, problems = read_all(bundle)
    assert problems == []
    assert [p.id for p in by_type(records, Person)] == ["500", "100", "101"]


def test_iso_8859_15_bundle(tmp_path: Path) -> None:
    bundle = write_bundle(
        tmp_path / "b",
        {
            "EtabEducNat": document([etab()], encoding="ISO-8859-15"),
            "Eleve": document([pupil("100", sn="LEFÈVRE-ŒUF", givenName="Zoé")], encoding="ISO-8859-15"),
        },
    )
    records, problems = read_all(bundle)
    assert problems == []
    person = next(iter(by_type(records, Person)))
    assert (person.last_name, person.first_name) == ("LEFÈVRE-ŒUF", "Zoé")


def at(problems: list[dict[str, object]], code: str) -> list[object]:
    examples = problem(problems, code)["examples"]
    assert isinstance(examples, list)
    return examples


def test_duplicate_ine(tmp_path: Path) -> None:
    pupils = document([pupil("100", ine="123456789AB"), pupil("101", ine="123456789AB")])
    bundle = write_bundle(tmp_path / "b", {"EtabEducNat": document([etab()]), "Eleve": pupils})
    records, problems = read_all(bundle)
    assert len(by_type(records, Person)) == 2  # both kept
    assert at(problems, "ine.duplicate") == [f"ENT2D_Complet_20240916_Eleve_0000.xml:{line_of(pupils, 1)}"]


@pytest.mark.parametrize(
    ("override", "code", "detail"),
    [
        ({"ENTEleveINE": ""}, "ine.missing", None),
        ({"sn": ""}, "record.missing-field", "sn"),
        ({"givenName": ""}, "record.missing-field", "givenName"),
        ({"ENTPersonDateNaissance": ""}, "record.missing-field", "ENTPersonDateNaissance"),
        ({"ENTPersonDateNaissance": "2013-09-01"}, "date.invalid", "ENTPersonDateNaissance"),
        ({"ENTPersonDateNaissance": "31/02/2013"}, "date.invalid", "ENTPersonDateNaissance"),
        ({"ENTPersonStructRattach": ""}, "uai.missing", "ENTPersonStructRattach"),
        ({"ENTEleveClasses": "10$6Z"}, "ref.dangling", "class or group the structure does not define"),
        ({"ENTEleveClasses": "99$6A"}, "ref.dangling", "class or group structure"),
        ({"ENTElevePersRelEleve": "777$10$0$1$0$0"}, "ref.dangling", "guardian absent from the source"),
    ],
)
def test_bad_pupil_fields_are_reported_and_the_pupil_kept(
    tmp_path: Path, override: dict[str, str], code: str, detail: str | None
) -> None:
    pupils = document([pupil("100"), pupil("101", **override)])
    bundle = write_bundle(tmp_path / "b", {"EtabEducNat": document([etab()]), "Eleve": pupils})
    records, problems = read_all(bundle)
    assert {p.id for p in by_type(records, Person)} == {"100", "101"}
    found = problem(problems, code)
    assert found["examples"] == [f"ENT2D_Complet_20240916_Eleve_0000.xml:{line_of(pupils, 1)}"]
    if detail is not None:
        assert detail in found.get("details", [])  # type: ignore[operator]  # a list of str
    assert "ELEVE" not in repr(problems)
    assert "Prenom" not in repr(problems)


def test_structure_without_uai(tmp_path: Path) -> None:
    data = document([etab("11", "0350002M"), etab(uai="")])
    records, problems = read_all(write_bundle(tmp_path / "b", {"EtabEducNat": data}))
    assert [s.uai for s in by_type(records, Structure)] == ["0350002M"]
    assert at(problems, "uai.missing") == [f"ENT2D_Complet_20240916_EtabEducNat_0000.xml:{line_of(data, 1)}"]


def test_orphan_guardian(tmp_path: Path) -> None:
    guardians = document([guardian("500"), guardian("501")])
    bundle = write_bundle(
        tmp_path / "b",
        {
            "EtabEducNat": document([etab()]),
            "PersRelEleve": guardians,
            "Eleve": document([pupil("100", parents=["500$10$0$1$0$0"])]),
        },
    )
    _records, problems = read_all(bundle)
    assert at(problems, "guardian.orphan") == [f"ENT2D_Complet_20240916_PersRelEleve_0000.xml:{line_of(guardians, 1)}"]


def test_unknown_file_and_missing_category(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", {"EtabEducNat": document([etab()])})
    (bundle / "notes.xml").write_text("<x/>", encoding="utf-8")
    (bundle / "ficAlimMENESR.dtd").write_text("<!ELEMENT x ANY>", encoding="utf-8")
    (bundle / "ENT2D_Complet_20240916_Eleve_0000.xml").write_bytes(
        document([request("Eleve", "1", {"sn": "X"}).replace("categoriePersonne", "categorieInconnue")])
    )
    _records, problems = read_all(bundle)
    assert at(problems, "file.unknown") == ["notes.xml"]  # the DTD is expected, not reported
    missing = problem(problems, "record.missing-field")
    assert missing["details"] == ["operationalAttributes category"]


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_connector(f"aaf:{tmp_path}", {"academy_prefix": 3})
    with pytest.raises(ConfigError):
        open_connector(f"aaf:{tmp_path}", {"known_guardians": ["500"]})  # the engine's lookup, never an option
    with pytest.raises(ConfigError):
        open_connector(f"aaf:{tmp_path}", {"max_record_bytes": 10})
    with pytest.raises(ConfigError):
        open_connector("aaf:", {})


def test_subjects_and_mefs_are_checked_not_emitted(tmp_path: Path) -> None:
    subjects = document(
        [
            request("MatiereEducNat", "061300", {"ENTMatJointure": "061300", "ENTLibelleMatiere": "MATHS"}),
            request("MatiereEducNat", "", {"ENTLibelleMatiere": "SANS CODE"}),
        ]
    )
    mefs = document([request("MefEducNat", "10010012110", {"ENTMefJointure": "10010012110", "ENTLibelleMef": "6EME"})])
    bundle = write_bundle(tmp_path / "b", {"MatiereEducNat": subjects, "MefEducNat": mefs})
    records, problems = read_all(bundle)
    assert records == []
    where = f"ENT2D_Complet_20240916_MatiereEducNat_0000.xml:{line_of(subjects, 1)}"
    assert at(problems, "record.missing-field") == [where]


def test_hostile_file_does_not_stop_the_others(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-44", encoding="utf-8")
    xxe = (
        f'<?xml version="1.0"?>\n<!DOCTYPE ficAlimMENESR [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        "<ficAlimMENESR>" + guardian("500", sn="&x;") + "</ficAlimMENESR>"
    ).encode()
    good = [pupil(str(100 + i)) for i in range(3)]
    broken = document(good).replace(b"</ficAlimMENESR>", pupil("200").encode()[:200])  # truncated 4th record
    bundle = write_bundle(tmp_path / "b", {"EtabEducNat": document([etab()]), "PersRelEleve": xxe, "Eleve": broken})
    records, problems = read_all(bundle)
    assert [r.id for r in records if isinstance(r, Person)] == ["100", "101", "102"]  # the 3 before the fault
    assert at(problems, "xml.dtd-forbidden") == ["ENT2D_Complet_20240916_PersRelEleve_0000.xml:2"]
    assert problem(problems, "xml.malformed")["count"] == 1
    assert "TOP-SECRET" not in repr(records) + repr(problems)


def test_expect_uai(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", {"EtabEducNat": document([etab()])})
    assert read_all(bundle, expect_uai="0350001l")[1] == []
    _records, problems = read_all(bundle, expect_uai="0999999F")
    assert at(problems, "uai.mismatch") == ["b"]


def test_a_file_that_stops_early_reports_that_not_its_consequences(tmp_path: Path) -> None:
    """Issue 8 item 11: the structures file refused (a DTD) is reported as such, not as "the expected UAI
    is not among the structures"; pupils left unread (a malformed Eleve file) do not make their guardians
    orphans; a guardian file left unread makes its pupils' links dangling with the reason said."""
    refused = document([etab()]).replace(b'SYSTEM "ficAlimMENESR.dtd">', b'[<!ENTITY x "y">]>')
    bundle = write_bundle(tmp_path / "a", {"EtabEducNat": refused})
    _records, problems = read_all(bundle, expect_uai="0350001L")
    assert {p["code"] for p in problems} == {"xml.dtd-forbidden"}

    truncated = document([pupil("100", parents=["500$10$0$1$0$0"]), pupil("101", parents=["501$10$0$1$0$0"])])
    truncated = truncated[: truncated.rindex(b"<addRequest>") + 40]
    files = {"EtabEducNat": document([etab()]), "PersRelEleve": document([guardian("500"), guardian("501")])}
    _records, problems = read_all(write_bundle(tmp_path / "b", {**files, "Eleve": truncated}))
    assert {p["code"] for p in problems} == {"xml.malformed"}  # 501 is no orphan: its pupil was not read

    guardians = document([guardian("500"), guardian("501")])
    guardians = guardians[: guardians.rindex(b"<addRequest>") + 40]
    eleves = document([pupil("100", parents=["500$10$0$1$0$0"]), pupil("101", parents=["501$10$0$1$0$0"])])
    files = {"EtabEducNat": document([etab()]), "PersRelEleve": guardians, "Eleve": eleves}
    _records, problems = read_all(write_bundle(tmp_path / "c", files))
    assert problem(problems, "ref.dangling")["details"] == [
        "guardian absent (a PersRelEleve file was not read to its end)"
    ]


def test_staff_links_outside_the_export_are_warnings(tmp_path: Path) -> None:
    teacher = staff("900", ["10$ENS$X$L1$Y", "77$DIR$CHEF"], ENTPersonStructRattach=["10", "77"])
    files = {
        "EtabEducNat": document([etab()]),
        "PersEducNat": document([teacher]),
        "Eleve": document([pupil("100", struct="77")]),
    }
    records, problems = read_all(write_bundle(tmp_path / "b", files))
    outside = problem(problems, "ref.outside-export")
    assert outside["severity"] == "warning"
    details = outside["details"]
    assert isinstance(details, list)
    assert sorted(details) == ["ENTPersonFonctions structure", "ENTPersonStructRattach"]
    assert problem(problems, "ref.dangling")["details"] == ["ENTPersonStructRattach"]  # the pupil's: an error
    teacher_record = next(r for r in records if isinstance(r, Person) and r.id == "900")
    assert teacher_record.structures == ("0350001L",)


def test_uais_are_checked(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", {"EtabEducNat": document([etab(uai="0350001A"), etab("11", uai="35X")])})
    records, problems = read_all(bundle)
    details = problem(problems, "uai.invalid")["details"]
    assert isinstance(details, list)
    assert sorted(details) == [
        "ENTStructureUAI: not 7 digits and a letter",
        "ENTStructureUAI: wrong check letter",
    ]
    assert {r.uai for r in records if isinstance(r, Structure)} == {"0350001A", "35X"}  # kept as read
    for options in ({"expect_uai": "0350001A"}, {"known_structures": {"10": "0350001"}}):
        with pytest.raises(ConfigError, match=r"check letter|7 digits"):
            open_connector(f"aaf:{tmp_path}", options)
