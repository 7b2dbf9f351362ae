"""A tampered, unsafe or broken package is refused with a message naming the member (and line)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.package import PackageConnector
from ent_migrate.contract import DATA_CAPABILITIES
from ent_migrate.errors import InputError, UnsafeArchiveError
from ent_migrate.model import Document
from tests.connectors.package.helpers import district, read_back, reseal, sha, write, zip_folder


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    write(district(), root)
    return root


def _read_all(location: Path, **options: Any) -> None:
    read_back(location, **options)


def _manifest(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    return data


def _save_manifest(root: Path, data: dict[str, Any]) -> None:
    (root / "manifest.json").write_text(json.dumps(data), encoding="utf-8")


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _doc_blob(root: Path) -> str:
    return str(next(item["path"] for item in _manifest(root)["files"] if item["path"].startswith("files/")))


# -- each tampering, on a folder and on a zip -----------------------------------------------------------


def _changed_record(root: Path) -> str:
    _flip_byte(root / "records" / "person.jsonl")
    return r"records/person\.jsonl: sha256 differs from the manifest"


def _changed_blob(root: Path) -> str:
    path = _doc_blob(root)
    _flip_byte(root / path)
    return rf"{path}: sha256 differs from the manifest"


def _entry_missing(root: Path) -> str:
    data = _manifest(root)
    data["files"] = [item for item in data["files"] if item["path"] != "records/group.jsonl"]
    _save_manifest(root, data)
    return r"records/group\.jsonl: not listed in the manifest"


def _extra_file(root: Path) -> str:
    (root / "records" / "notes.txt").write_text("hello", encoding="utf-8")
    return r"records/notes\.txt: not listed in the manifest"


def _duplicate_entry(root: Path) -> str:
    data = _manifest(root)
    index = next(i for i, item in enumerate(data["files"]) if item["path"] == "records/group.jsonl")
    data["files"].insert(index, dict(data["files"][index]))
    _save_manifest(root, data)
    return r"records/group\.jsonl: listed twice in the manifest"


def _file_missing(root: Path) -> str:
    (root / "schemas" / "group.schema.json").unlink()
    return r"schemas/group\.schema\.json: listed in the manifest but missing"


def _size_lie(root: Path) -> str:
    data = _manifest(root)
    for item in data["files"]:
        if item["path"] == "records/person.jsonl":
            item["size"] += 1
    _save_manifest(root, data)
    return r"records/person\.jsonl: size differs from the manifest"


def _unsorted_manifest(root: Path) -> str:
    data = _manifest(root)
    data["files"].reverse()
    _save_manifest(root, data)
    return r"manifest files are not sorted by path"


TAMPERINGS: list[Callable[[Path], str]] = [
    _changed_record,
    _changed_blob,
    _entry_missing,
    _extra_file,
    _duplicate_entry,
    _file_missing,
    _size_lie,
    _unsorted_manifest,
]


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_tampering_is_refused_naming_the_member(package: Path, tamper: Callable[[Path], str], zipped: bool) -> None:
    message = tamper(package)
    location = zip_folder(package, package.parent / "package.zip") if zipped else package
    label = "package.zip" if zipped else "pkg"
    with pytest.raises(UnsafeArchiveError, match=rf"^{label}:.*{message}"):
        _read_all(location)


def test_message_reads_exactly_as_documented(package: Path) -> None:
    _changed_record(package)
    location = zip_folder(package, package.parent / "package.zip")
    with pytest.raises(UnsafeArchiveError) as caught:
        _read_all(location)
    assert str(caught.value) == "package.zip:records/person.jsonl: sha256 differs from the manifest"


def test_lazy_verification_catches_a_changed_blob_when_read(package: Path) -> None:
    path = _doc_blob(package)
    _flip_byte(package / path)
    connector = PackageConnector(str(package), {"verify": "lazy"})
    documents = [r for r in connector.read_documents() if isinstance(r, Document)]  # opening did not read blobs
    target = next(r for r in documents if path.endswith(r.sha256))
    with pytest.raises(UnsafeArchiveError, match=rf"pkg:{path}: sha256 differs"), connector.open_blob(target) as s:
        s.read()
    connector.close()


# -- unsafe members ------------------------------------------------------------------------------------


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (zipfile.ZipInfo("../evil.txt"), r"\.\./evil\.txt: '\.\.' in path"),
        (zipfile.ZipInfo("files/../../evil.txt"), r"files/\.\./\.\./evil\.txt: '\.\.' in path"),
        (zipfile.ZipInfo("/etc/evil"), r"/etc/evil: absolute path"),
        (_symlink_info("files/link"), r"files/link: symbolic link"),
        (zipfile.ZipInfo("records/person.jsonl"), r"records/person\.jsonl: duplicate member name"),
    ],
)
def test_unsafe_zip_members_are_refused(package: Path, entry: zipfile.ZipInfo, message: str) -> None:
    location = zip_folder(package, package.parent / "package.zip", extra=[(entry, b"x")])
    with pytest.raises(UnsafeArchiveError, match=rf"^package\.zip:{message}"):
        _read_all(location)


def test_symlink_in_a_folder_is_refused(package: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jsonl"
    shutil.copy(package / "records" / "person.jsonl", secret)
    (package / "records" / "person.jsonl").unlink()
    (package / "records" / "person.jsonl").symlink_to(secret)
    with pytest.raises(UnsafeArchiveError, match=r"^pkg:records/person\.jsonl: symbolic link"):
        _read_all(package)


def test_zip_bomb_is_refused(package: Path) -> None:
    zeros = bytes(8 << 20)
    name = f"files/{sha(zeros)[:2]}/{sha(zeros)}"
    location = zip_folder(package, package.parent / "package.zip", extra=[(name, zeros)])
    with pytest.raises(UnsafeArchiveError, match=rf"^package\.zip:{name}: compression ratio"):
        _read_all(location)


def test_member_count_cap_from_the_options(package: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="more members than the cap"):
        _read_all(package, limits={"max_members": 5})


# -- broken content: file and line -----------------------------------------------------------------------


def _edit_line(root: Path, kind: str, number: int, new: str) -> None:
    path = root / "records" / f"{kind}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[number - 1] = new
    path.write_text("".join(lines), encoding="utf-8")
    reseal(root)


def test_invalid_json_line_names_file_and_line(package: Path) -> None:
    _edit_line(package, "person", 2, '{"kind": "person", "id": \n')
    with pytest.raises(InputError, match=r"^pkg:records/person\.jsonl:2: not valid JSON"):
        _read_all(package)


def test_schema_violation_names_the_field_never_the_value(package: Path) -> None:
    line = json.loads((package / "records" / "person.jsonl").read_text(encoding="utf-8").splitlines()[1])
    line["profile"] = "Sorcier-Dumbledore"
    _edit_line(package, "person", 2, json.dumps(line) + "\n")
    with pytest.raises(InputError, match=r"^pkg:records/person\.jsonl:2: field \$\.profile") as caught:
        _read_all(package)
    assert "Dumbledore" not in str(caught.value)
    assert "N'Diaye" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {**d, "id": "ac-amiens$a0"}, "not sorted by key"),  # the second line now sorts first
        (lambda d: {**d, "nickname": "x"}, r"field \$ fails the schema rule 'additionalProperties'"),
        (lambda d: {**d, "kind": "group"}, r"field \$\.kind"),
    ],
)
def test_record_rules(package: Path, change: Callable[[dict[str, Any]], dict[str, Any]], message: str) -> None:
    line = json.loads((package / "records" / "person.jsonl").read_text(encoding="utf-8").splitlines()[1])
    _edit_line(package, "person", 2, json.dumps(change(line)) + "\n")
    with pytest.raises(InputError, match=rf"^pkg:records/person\.jsonl:2: .*{message}"):
        _read_all(package)


def test_blob_path_and_hash_must_agree_with_the_manifest(package: Path) -> None:
    line = json.loads((package / "records" / "document.jsonl").read_text(encoding="utf-8").splitlines()[0])
    _edit_line(package, "document", 1, json.dumps({**line, "blob_path": "files/elsewhere"}) + "\n")
    with pytest.raises(InputError, match=r"^pkg:records/document\.jsonl:1: blob_path is not where"):
        _read_all(package)
    other = sha(b"not in the package")
    moved = {**line, "sha256": other, "blob_path": f"files/{other[:2]}/{other}"}
    _edit_line(package, "document", 1, json.dumps(moved) + "\n")
    with pytest.raises(UnsafeArchiveError, match=r"^pkg:records/document\.jsonl:1: the record's bytes are not in"):
        _read_all(package)


def test_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "readme.txt").write_text("hi", encoding="utf-8")
    with pytest.raises(UnsafeArchiveError, match=r"^folder:manifest\.json: missing"):
        _read_all(tmp_path / "folder")
    (tmp_path / "folder" / "manifest.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(InputError, match=r"^folder:manifest\.json: "):
        _read_all(tmp_path / "folder")
    (tmp_path / "empty").mkdir()
    connector = PackageConnector(str(tmp_path / "empty"))
    assert [r for c in DATA_CAPABILITIES for r in connector.read(c)] == []  # an empty target reads empty
    connector.close()


def test_a_listed_file_outside_the_format_is_reported_not_refused(package: Path) -> None:
    (package / "README.txt").write_text("Livraison réversibilité", encoding="utf-8")
    data = _manifest(package)
    data["files"].append({"path": "README.txt", "size": 0, "sha256": ""})
    data["files"].sort(key=lambda item: item["path"])
    _save_manifest(package, data)
    reseal(package)
    connector = PackageConnector(str(package))
    assert len(list(connector.read_accounts())) == 5
    assert connector.problems.count("file.unknown") == 1
    connector.close()


_SMALL_ZIP: list[bytes] = []


def _small_zip() -> bytes:
    if not _SMALL_ZIP:
        with tempfile.TemporaryDirectory() as folder:
            write(district()[:4] + district()[10:11], Path(folder) / "p.zip")
            _SMALL_ZIP.append((Path(folder) / "p.zip").read_bytes())
    return _SMALL_ZIP[0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=3))
def test_any_corrupted_package_zip_is_refused_cleanly(edits: list[tuple[float, int]]) -> None:
    data = bytearray(_small_zip())
    for where, value in edits:
        data[int(where * len(data))] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.zip"
        path.write_bytes(bytes(data))
        message = ""
        try:
            _read_all(path)
        except InputError as exc:  # anything else (a traceback) fails the test
            message = str(exc)
        assert message == "" or message.startswith(("fuzz.zip", str(path)))


_CAPPED_READ = r"""
import resource, sys
from pathlib import Path
from tests.connectors.package.helpers import read_back
with open("/proc/self/status") as fh:
    vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
# 512 MiB of address space to spare: a small VM or a container with a memory limit (and strict overcommit).
resource.setrlimit(resource.RLIMIT_AS, (vm + (512 << 20), vm + (512 << 20)))
records, _ = read_back(Path(sys.argv[1]))
print(len(records))
"""


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_a_package_is_read_in_a_small_address_space(package: Path, zipped: bool) -> None:
    # read(n) allocates n bytes first: reading the manifest with read(cap + 1) asked for 1 GiB.
    location = zip_folder(package, package.with_suffix(".zip")) if zipped else package
    done = subprocess.run(
        [sys.executable, "-c", _CAPPED_READ, str(location)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == len(read_back(location)[0]) > 0
