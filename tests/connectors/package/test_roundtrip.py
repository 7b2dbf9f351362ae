"""The package connector as a target then a source: nothing lost, nothing changed, same bytes twice."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.package import PackageConnector
from ent_migrate.connectors.package.fixture import write_package
from ent_migrate.connectors.package.layout import encode_segment, record_schema
from ent_migrate.contract import Action, Capability, Operation
from ent_migrate.errors import ConfigError, TerminalError, UnreachableError
from ent_migrate.model import (
    Document,
    Group,
    GroupKind,
    Guardianship,
    Mailbox,
    Membership,
    Message,
    Person,
    Production,
    Profile,
    RecordKind,
    Structure,
)
from ent_migrate.registry import open_connector
from tests.connectors.package.helpers import (
    CREATED_AT,
    RAW_MAIL,
    Item,
    district,
    document,
    expected,
    read_back,
    sha,
    tree_bytes,
    write,
)


@pytest.mark.parametrize("name", ["pkg", "pkg.zip"])
def test_round_trip_keeps_every_record_and_byte(tmp_path: Path, name: str) -> None:
    items = district()
    write(items, tmp_path / name, durable=True)
    assert read_back(tmp_path / name) == expected(items)
    if name.endswith(".zip"):
        assert not (tmp_path / "pkg.zip.work").exists()  # packed, and the work folder removed


def test_mail_is_one_eml_per_message_byte_exact(tmp_path: Path) -> None:
    write(district(), tmp_path / "pkg")
    eml = tmp_path / "pkg" / "mail" / encode_segment("ac-amiens$t1") / "INBOX%2FSorties" / f"{sha(RAW_MAIL)}.eml"
    assert eml.read_bytes() == RAW_MAIL
    line = json.loads((tmp_path / "pkg" / "records" / "message.jsonl").read_text(encoding="utf-8"))
    assert line["blob_path"] == eml.relative_to(tmp_path / "pkg").as_posix()


def test_manifest_and_schemas(tmp_path: Path) -> None:
    write(district(), tmp_path / "pkg")
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "ent-migrate-package"
    assert manifest["format_version"] == "1.0"
    assert manifest["producer"]["name"] == "ent-migrate"
    assert manifest["created_at"] == CREATED_AT
    paths = [item["path"] for item in manifest["files"]]
    assert paths == sorted(paths)
    on_disk = sorted(k for k in tree_bytes(tmp_path / "pkg") if k != "manifest.json")
    assert paths == on_disk
    for item in manifest["files"]:
        assert sha((tmp_path / "pkg" / item["path"]).read_bytes()) == item["sha256"]
    # the shared document bytes are stored once
    assert sum(p.startswith("files/") for p in paths) == 3
    for kind in RecordKind:
        schema = json.loads((tmp_path / "pkg" / "schemas" / f"{kind}.schema.json").read_text(encoding="utf-8"))
        assert schema == record_schema(kind)
        jsonschema.Draft202012Validator.check_schema(schema)
        lines = (tmp_path / "pkg" / "records" / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines:
            jsonschema.validate(json.loads(line), schema)


@pytest.mark.parametrize("name", ["pkg", "pkg.zip"])
def test_two_writes_are_byte_identical_apart_from_created_at(tmp_path: Path, name: str) -> None:
    items = district()
    write(items, tmp_path / "a" / name, created_at="2026-01-01T00:00:00Z")
    write(list(reversed(items)), tmp_path / "b" / name, created_at="2027-02-02T00:00:00Z")
    if name.endswith(".zip"):
        a, b = _zip_members(tmp_path / "a" / name), _zip_members(tmp_path / "b" / name)
    else:
        a, b = tree_bytes(tmp_path / "a" / name), tree_bytes(tmp_path / "b" / name)
    assert a["manifest.json"] != b["manifest.json"]
    for tree in (a, b):
        tree["manifest.json"] = _without_created_at(tree["manifest.json"])
    assert a == b
    # and with the same created_at, the whole zip file is the same bytes
    write(items, tmp_path / "c" / name)
    write(items, tmp_path / "d" / name)
    if name.endswith(".zip"):
        assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "d" / name).read_bytes()


def _zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert infos[0].filename == "manifest.json"
        assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
        return {info.filename: archive.read(info) for info in infos}


def _without_created_at(data: bytes) -> bytes:
    return b"\n".join(line for line in data.split(b"\n") if b'"created_at"' not in line)


def test_updates_deletes_and_disable(tmp_path: Path) -> None:
    items = district()
    write(items, tmp_path / "pkg")
    person = Person(id="ac-amiens$p1", profile=Profile.STUDENT, last_name="N'Diaye", first_name="Zoé Marie")
    gone = document("ac-amiens$t1", "vide.txt", b"")[0]
    connector = PackageConnector(str(tmp_path / "pkg"), {"created_at": CREATED_AT})
    connector.write(Operation("u", Action.UPDATE, person.kind, person.key, person))
    teacher = Person(id="ac-amiens$t1", profile=Profile.TEACHER, last_name="Martin", first_name="Luc")
    connector.write(Operation("d", Action.DISABLE, teacher.kind, teacher.key, teacher))
    connector.write(Operation("x", Action.DELETE, gone.kind, gone.key, None))
    # reading back before close sees every write made so far
    read = {r.key: r for r in connector.read(Capability.ACCOUNTS)}
    assert read[person.key] == person
    assert gone.key not in {r.key for r in connector.read(Capability.DOCUMENTS)}
    connector.finish()
    connector.close()
    prints, _ = read_back(tmp_path / "pkg")
    assert prints[(RecordKind.PERSON, person.key)] == person.fingerprint()
    assert (RecordKind.DOCUMENT, gone.key) not in prints
    lines = (tmp_path / "pkg" / "records" / "person.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line).get("disabled", False) for line in lines] == [False, False, True]  # g1, p1, t1
    # the empty document's bytes were only used by the deleted record: dropped from the package
    assert not (tmp_path / "pkg" / "files" / sha(b"")[:2]).exists()


def test_blob_hash_comes_from_the_manifest_without_reading(tmp_path: Path) -> None:
    items = district()
    write(items, tmp_path / "pkg")
    record, data = items[10]
    assert isinstance(record, Document)
    assert data is not None
    (tmp_path / "pkg" / "files" / record.sha256[:2] / record.sha256).write_bytes(b"X" * len(data))
    connector = PackageConnector(str(tmp_path / "pkg"), {"verify": "lazy"})
    assert connector.blob_sha256(record) == record.sha256  # the manifest's word: the bytes were not read
    connector.close()


def test_writing_bytes_that_do_not_match_the_record_fails_the_item(tmp_path: Path) -> None:
    record, _ = document("p", "a.txt", b"right")
    connector = PackageConnector(str(tmp_path / "pkg"))
    with pytest.raises(TerminalError, match="do not match"):
        connector.write(Operation("1", Action.CREATE, record.kind, record.key, record), io.BytesIO(b"wrong"))
    with pytest.raises(TerminalError, match="without its bytes"):
        connector.write(Operation("1", Action.CREATE, record.kind, record.key, record), None)
    connector.close()
    assert read_back(tmp_path / "pkg") == ({}, {})


def test_registry_spec_and_options(tmp_path: Path) -> None:
    connector = open_connector(f"package:{tmp_path / 'p.zip'}", {"limits": {"max_members": 5}})
    assert isinstance(connector, PackageConnector)
    assert connector.limits.max_members == 5
    assert connector.check().reachable
    with pytest.raises(ConfigError, match="unknown field"):
        PackageConnector(str(tmp_path / "p"), {"limits": {"max_everything": 1}})
    with pytest.raises(ConfigError, match="verify"):
        PackageConnector(str(tmp_path / "p"), {"verify": "never"})
    with pytest.raises(UnreachableError, match="no package here"):
        list(PackageConnector(str(tmp_path / "absent")).read_accounts())


def test_writing_to_an_existing_zip_merges(tmp_path: Path) -> None:
    items = district()
    write(items[:5], tmp_path / "p.zip")
    write(items[5:], tmp_path / "p.zip")
    assert read_back(tmp_path / "p.zip") == expected(items)


def test_fixture_writer_streams_through_the_connector(tmp_path: Path) -> None:
    items = district()
    out = write_package(iter(items), tmp_path / "fixture.zip", created_at=CREATED_AT)
    assert read_back(out) == expected(items)
    write(items, tmp_path / "direct.zip")
    assert out.read_bytes() == (tmp_path / "direct.zip").read_bytes()  # one writer, one format
    with pytest.raises(ConfigError, match="already exists"):
        write_package(items, out)


# -- property: any records round-trip ----------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_ids = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10)
_when = st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1)) | st.none()


_items: st.SearchStrategy[Item] = st.one_of(
    st.builds(lambda u, n: (Structure(uai=u, name=n), None), _ids, _text),
    st.builds(
        lambda i, p, ln, fn, b, e: (
            Person(id=i, profile=p, last_name=ln, first_name=fn, birth_date=b, emails=tuple(e)),
            None,
        ),
        _ids,
        st.sampled_from(Profile),
        _text,
        _text,
        st.dates() | st.none(),
        st.lists(_text, max_size=2),
    ),
    st.builds(
        lambda u, c, k, lv: (Group(uai=u, code=c, group_kind=k, level=lv), None),
        _ids,
        _ids,
        st.sampled_from(GroupKind),
        _text | st.none(),
    ),
    st.builds(lambda p, u, g: (Membership(person_id=p, uai=u, group_code=g), None), _ids, _ids, _ids),
    st.builds(
        lambda g, s, lv: (Guardianship(guardian_id=g, student_id=s, legal_level=lv), None),
        _ids,
        _ids,
        st.integers(0, 3) | st.none(),
    ),
    st.builds(lambda o, n: (Mailbox(owner_id=o, name=n), None), _ids, _text),
    st.builds(
        lambda o, m, i, raw, flags, when: (
            Message(
                owner_id=o,
                mailbox=m,
                message_id=i,
                sha256=sha(raw),
                size=len(raw),
                flags=tuple(flags),
                date=when,
            ),
            raw,
        ),
        _ids,
        _text,
        _ids,
        st.binary(max_size=64),
        st.lists(st.sampled_from(["\\Seen", "\\Flagged"]), max_size=2, unique=True),
        _when,
    ),
    st.builds(lambda o, p, raw: document(o, p, raw), _ids, _ids, st.binary(max_size=64)),
    st.builds(
        lambda o, t, raw: (
            Production(owner_id=o, app="wiki", title=t, format="text/markdown", sha256=sha(raw), size=len(raw)),
            raw,
        ),
        _ids,
        _ids,
        st.binary(max_size=64),
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_items, max_size=12), st.booleans())
def test_property_any_records_round_trip(items: list[Item], zipped: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        location = Path(folder) / ("p.zip" if zipped else "p")
        write(items, location)
        want_prints, want_blobs = expected(items)
        prints, blobs = read_back(location)
        assert prints == want_prints
        final = {(r.kind, r.key): r for r, _ in items}
        # every blob a surviving record points to is there, byte-identical; no other blob is
        assert set(blobs) == {r.sha256 for r in final.values() if isinstance(r, Message | Document | Production)}
        assert all(blobs[k] == want_blobs[k] for k in blobs)


def test_a_target_never_writes_into_a_foreign_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "files").mkdir(parents=True)
    (home / "files" / "thesis.odt").write_bytes(b"precious")
    connector = PackageConnector(str(home))
    structure = Structure(uai="0800001A")
    with pytest.raises(ConfigError, match="neither empty nor a package"):
        connector.write(Operation("1", Action.CREATE, structure.kind, structure.key, structure))
    connector.close()
    assert (home / "files" / "thesis.odt").read_bytes() == b"precious"
    assert not (home / ".ent-migrate").exists()


@pytest.mark.parametrize("zipped", [False, True])
def test_a_package_target_is_private_whatever_the_umask(tmp_path: Path, zipped: bool) -> None:
    target = tmp_path / ("out.zip" if zipped else "out")
    if not zipped:
        target.mkdir(mode=0o755)
    old = os.umask(0o000)  # the worst umask: everything would be world-writable
    try:
        write(district(), target)
    finally:
        os.umask(old)
    paths = [target] if zipped else [target, *target.rglob("*")]
    assert paths
    for path in paths:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
