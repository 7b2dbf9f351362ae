"""Bundles as .tgz and .zip (through ent_migrate.archive), hostile members, and delta semantics."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from ent_migrate.model import Guardianship, Membership, Person
from tests.connectors.aaf.helpers import (
    document,
    etab,
    guardian,
    line_of,
    problem,
    pupil,
    read_all,
    request,
    write_bundle,
)


def small_bundle(folder: Path) -> Path:
    return write_bundle(
        folder,
        {
            "EtabEducNat": document([etab()]),
            "PersRelEleve": document([guardian("500")]),
            "Eleve": document([pupil("100", parents=["500$10$0$1$0$0"])]),
        },
    )


def test_tgz_and_zip_read_like_the_folder(tmp_path: Path) -> None:
    folder = small_bundle(tmp_path / "folder")
    expected, problems = read_all(folder)
    assert problems == []
    tgz = tmp_path / "ENT2D.20240916.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=f"ENT2D/{path.name}")
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, arcname=path.name)
    for location in (tgz, archive):
        records, problems = read_all(location)
        assert problems == []
        assert records == expected


def test_unsafe_members_are_reported_and_skipped(tmp_path: Path) -> None:
    folder = small_bundle(tmp_path / "folder")
    tgz = tmp_path / "evil.tgz"
    hostile = document([pupil("666")])
    with tarfile.open(tgz, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
        for name in ("../ENT2D_Complet_20240916_Eleve_0009.xml", "/tmp/ENT2D_Complet_20240916_Eleve_0008.xml"):
            info = tarfile.TarInfo(name)
            info.size = len(hostile)
            tar.addfile(info, io.BytesIO(hostile))
    records, problems = read_all(tgz)
    assert "666" not in {r.id for r in records if isinstance(r, Person)}
    unsafe = problem(problems, "archive.unsafe-member")
    assert unsafe["count"] == 2
    assert all(str(e).startswith("evil.tgz:") for e in unsafe["examples"])  # type: ignore[attr-defined]


def test_delta_modify_replaces_the_value_set(tmp_path: Path) -> None:
    # The complete bundle put the pupil in 6A and LATIN; the delta's modifyRequest lists ENTEleveClasses
    # = [6B] and an empty ENTEleveGroupes: the links read are exactly the new sets.
    delta = write_bundle(
        tmp_path / "delta",
        {
            "Eleve": document([pupil("100", classes=["10$6B"], parents=["500$10$0$1$0$0"], op="modifyRequest")]),
        },
        kind="Delta",
    )
    records, problems = read_all(delta, known_structures={"10": "0350001L"}, known={"500"})
    assert problems == []
    assert [r for r in records if isinstance(r, Membership)] == [
        Membership(person_id="100", uai="0350001L", group_code="6B")
    ]
    assert Guardianship(guardian_id="500", student_id="100", legal_level=1, kinship="10") in records


def test_delta_guardian_known_to_the_target_is_not_dangling(tmp_path: Path) -> None:
    files = {"EtabEducNat": document([etab()]), "Eleve": document([pupil("100", parents=["500$10$0$1$0$0"])])}
    delta = write_bundle(tmp_path / "delta", files, kind="Delta")
    _records, problems = read_all(delta)
    assert problem(problems, "ref.dangling")["count"] == 1
    records, problems = read_all(delta, known=lambda ident: ident == "500")
    assert problems == []
    assert Guardianship(guardian_id="500", student_id="100", legal_level=1, kinship="10") in records


def test_delete_in_a_delta_is_never_silent(tmp_path: Path) -> None:
    pupils = document([pupil("100"), request("Eleve", "101", {}, op="deleteRequest")])
    delta = write_bundle(tmp_path / "delta", {"EtabEducNat": document([etab()]), "Eleve": pupils}, kind="Delta")
    records, problems = read_all(delta)
    assert {r.id for r in records if isinstance(r, Person)} == {"100"}
    found = problem(problems, "delete.not-applied")
    assert found["examples"] == [f"ENT2D_Delta_20240916_Eleve_0000.xml:{line_of(pupils, 0, b'<deleteRequest>')}"]


def test_orphan_guardians_are_normal_in_a_delta(tmp_path: Path) -> None:
    delta = write_bundle(tmp_path / "delta", {"PersRelEleve": document([guardian("500")])}, kind="Delta")
    records, problems = read_all(delta)
    assert problems == []
    assert [r.id for r in records if isinstance(r, Person)] == ["500"]


def test_partial_modify_gives_links_not_a_blank_person(tmp_path: Path) -> None:
    # A modifyRequest listing only ENTEleveClasses: the class link is read; no person with empty names.
    modify = request("Eleve", "100", {"ENTPersonJointure": "100", "ENTEleveClasses": "10$6B"}, op="modifyRequest")
    delta = write_bundle(tmp_path / "delta", {"Eleve": document([modify])}, kind="Delta")
    records, problems = read_all(delta, known_structures={"10": "0350001L"})
    assert problems == []
    assert records == [Membership(person_id="100", uai="0350001L", group_code="6B")]
