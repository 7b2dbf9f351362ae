"""``archive.signature`` as entcore writes it (``FileSystemExportService.signExport`` with web-utils'
``RSA.signFile``): the expectations are computed by hand from that scheme — ``SHA256withRSA`` over a
file's bytes, or over a folder's name then its children by name (sub-folders recursively, files by
their bytes) — never through ``layout.entry_digest``."""

from __future__ import annotations

import base64
import json
import os
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.audit.evidence import HandbackSource, SignatureStatus
from ent_migrate.connectors.edifice_archive.layout import signing_order
from ent_migrate.connectors.edifice_archive.writer import write_edifice_archives
from ent_migrate.model import Document, Record
from ent_migrate.registry import open_connector
from tests.connectors.edifice_archive.keys import write_rsa_pair

_ROOT = "1764748800000_user-a"
_MANIFEST = b'{"org.entcore.blog":{"version":"2.0","folder":"Blog"}}'
_A, _B, _P = b'{"_id":"a"}', b'{"_id":"b"}', b'{"_id":"p1","title":"Rentr\xc3\xa9e"}'


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> tuple[rsa.RSAPrivateKey, Path, Path]:
    return write_rsa_pair(tmp_path_factory.mktemp("vendor"), "vendor")


def _java_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """``Signature.getInstance("SHA256withRSA")`` over *message*, base64 as ``RSA.signFile`` returns it."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def _export(path: Path, members: dict[str, bytes], signature: dict[str, str] | None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"{_ROOT}/{name}", data)
        if signature is not None:  # as signContents.toBuffer() writes it: compact JSON
            archive.writestr(f"{_ROOT}/archive.signature", json.dumps(signature, separators=(",", ":")))
    return path


def _statuses(location: Path, public: Path) -> dict[str, SignatureStatus]:
    with open_connector(f"edifice-archive:{location}", {"public_key": str(public)}) as source:
        assert isinstance(source, HandbackSource)
        (inventory,) = source.handback_inventory()
        return {check.entry: check.status for check in inventory.signatures}


_BLOG = {"Blog/b.json": _B, "Blog/a.json": _A, "Blog/Posts/p1.json": _P}
# The stream entcore signs for Blog: the folder's name, then by name "Posts" (P < a, Java order)
# holding p1.json, then a.json and b.json; file names themselves are not in it.
_BLOG_STREAM = b"Blog" + b"Posts" + _P + _A + _B


def test_an_archive_signed_as_entcore_signs_it_is_valid(
    tmp_path: Path, vendor: tuple[rsa.RSAPrivateKey, Path, Path]
) -> None:
    key, _, public = vendor
    signature = {"Manifest.json": _java_sign(key, _MANIFEST), "Blog": _java_sign(key, _BLOG_STREAM)}
    path = _export(tmp_path / "user-a.zip", {"Manifest.json": _MANIFEST, **_BLOG}, signature)
    assert _statuses(path, public) == {"Blog": SignatureStatus.VALID, "Manifest.json": SignatureStatus.VALID}


def test_file_names_are_not_signed_but_bytes_and_folders_are(
    tmp_path: Path, vendor: tuple[rsa.RSAPrivateKey, Path, Path]
) -> None:
    key, _, public = vendor
    signature = {"Manifest.json": _java_sign(key, _MANIFEST), "Blog": _java_sign(key, _BLOG_STREAM)}
    base = {"Manifest.json": _MANIFEST}
    renamed = {"Blog/b.json": _B, "Blog/a2.json": _A, "Blog/Posts/p1.json": _P}  # same order, other name
    changed = {**_BLOG, "Blog/a.json": _A + b" "}
    moved = {"Blog/b.json": _B, "Blog/a.json": _A, "Blog/Billets/p1.json": _P}  # a folder's name is signed
    added = {**_BLOG, "Blog/c.json": b"{}"}
    expected = {"renamed": SignatureStatus.VALID, "changed": SignatureStatus.INVALID,
                "moved": SignatureStatus.INVALID, "added": SignatureStatus.INVALID}  # fmt: skip
    for case, blog in (("renamed", renamed), ("changed", changed), ("moved", moved), ("added", added)):
        path = _export(tmp_path / f"{case}.zip", {**base, **blog}, signature)
        assert _statuses(path, public)["Blog"] is expected[case], case


def test_every_top_level_entry_is_checked_as_entcore_import_does(
    tmp_path: Path, vendor: tuple[rsa.RSAPrivateKey, Path, Path]
) -> None:
    key, _, public = vendor
    # Wiki was empty when signed (its name alone), Pad had a file since removed; extra.txt is not listed
    signature = {
        "Manifest.json": _java_sign(key, _MANIFEST),
        "Blog": _java_sign(key, _BLOG_STREAM),
        "Wiki": _java_sign(key, b"Wiki"),
        "Pad": _java_sign(key, b"Pad" + b"{}"),
    }
    path = _export(tmp_path / "user-a.zip", {"Manifest.json": _MANIFEST, **_BLOG, "extra.txt": b"x"}, signature)
    assert _statuses(path, public) == {
        "Blog": SignatureStatus.VALID,
        "Manifest.json": SignatureStatus.VALID,
        "Pad": SignatureStatus.INVALID,
        "Wiki": SignatureStatus.VALID,
        "extra.txt": SignatureStatus.UNSIGNED,
    }


def test_an_empty_sub_folder_is_signed_by_its_name(
    tmp_path: Path, vendor: tuple[rsa.RSAPrivateKey, Path, Path]
) -> None:
    key, _, public = vendor
    # Blog/Images/ is empty: entcore streams "Images" between "Blog" and a.json (I < P < a)
    stream = b"Blog" + b"Images" + b"Posts" + _P + _A + _B
    signature = {"Manifest.json": _java_sign(key, _MANIFEST), "Blog": _java_sign(key, stream)}
    path = _export(tmp_path / "user-a.zip", {"Manifest.json": _MANIFEST, **_BLOG}, signature)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(zipfile.ZipInfo(f"{_ROOT}/Blog/Images/"), b"")
    assert _statuses(path, public)["Blog"] is SignatureStatus.VALID
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(unpacked / "user-a")
    assert _statuses(unpacked, public)["Blog"] is SignatureStatus.VALID  # an unpacked user folder too
    (unpacked / "user-a" / _ROOT / "Blog" / "Images").rmdir()
    assert _statuses(unpacked, public)["Blog"] is SignatureStatus.INVALID


def test_names_sort_by_utf16_code_unit_as_java_strings_do() -> None:
    # U+1F600 is the surrogate pair D83D DE00, before U+FF21 in Java although after it by code point
    assert signing_order(["\uff21", "\U0001f600", "a"]) == [("a", False), ("\U0001f600", False), ("\uff21", False)]
    assert signing_order(["z/x", "y"], dirs=["e/"]) == [("e", True), ("y", False), ("z", True), ("z/x", False)]


def _collect(directory: Path, out: list[bytes]) -> None:
    """web-utils' ``collectFiles`` on a real folder: its name, then its entries sorted by name."""
    out.append(directory.name.encode())
    for entry in sorted(os.scandir(directory), key=lambda e: e.name.encode("utf-16-be")):
        if entry.is_dir():
            _collect(Path(entry.path), out)
        else:
            out.append(Path(entry.path).read_bytes())


def test_the_fixture_writer_signs_exactly_as_entcore(
    tmp_path: Path, vendor: tuple[rsa.RSAPrivateKey, Path, Path]
) -> None:
    key, private, public = vendor
    data = b"cours de maths"
    doc = Document(owner_id="user-a", path="Cours/2026/notes.txt", sha256="0" * 64, size=len(data))
    items: list[tuple[Record, bytes | None]] = [(doc, data)]
    (path,) = write_edifice_archives(items, tmp_path / "out", private_key=private)
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "x")
    (root,) = (tmp_path / "x").iterdir()
    written = json.loads((root / "archive.signature").read_bytes())
    expected = {}
    for entry in sorted(root.iterdir()):  # PKCS#1 v1.5 is deterministic: the very same base64
        if entry.name == "archive.signature":
            continue
        chunks: list[bytes] = []
        _collect(entry, chunks) if entry.is_dir() else chunks.append(entry.read_bytes())
        expected[entry.name] = _java_sign(key, b"".join(chunks))
    assert written == expected
    assert set(_statuses(path, public).values()) == {SignatureStatus.VALID}


_NAME = st.text(st.sampled_from("aAbZ_é\uff21\U0001f600"), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(paths=st.lists(st.lists(_NAME, min_size=1, max_size=3).map("/".join), min_size=1, max_size=8))
def test_signing_order_is_the_recursive_walk(paths: list[str]) -> None:
    # a name both a file and a folder cannot exist on disk: keep the first that claims it
    files: list[str] = []
    for path in paths:
        parts = path.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if not any(p == path or p.startswith(path + "/") or p in prefixes for p in files):
            files.append(path)
    tree: dict[str, object] = {}
    for path in files:
        node = tree
        *folders, leaf = path.split("/")
        for name in folders:
            node = node.setdefault(name, {})  # type: ignore[assignment]
        node[leaf] = None

    def walk(node: dict[str, object], prefix: str) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        for name in sorted(node, key=lambda n: n.encode("utf-16-be")):
            child = node[name]
            out.append((prefix + name, isinstance(child, dict)))
            if isinstance(child, dict):
                out += walk(child, prefix + name + "/")
        return out

    assert signing_order(files) == walk(tree, "")
