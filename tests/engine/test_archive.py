"""ent_migrate.archive: hostile zips, tars and folders are refused, naming the archive and the member."""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.archive import Archive, Limits, Member, check_member_name, extract_all, iter_members
from ent_migrate.errors import InputError, UnsafeArchiveError
from ent_migrate.problems import Problems

SMALL = Limits(max_members=10, max_member_size=4 << 20, max_total_size=8 << 20, max_ratio=50, ratio_min_size=1 << 16)


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names: we build them on purpose
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def tar_info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


def read_all(path: Path, limits: Limits = SMALL) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for member in iter_members(path, limits):
        with member.open() as stream:
            out[member.name] = stream.read()
    return out


# -- the happy path -----------------------------------------------------------------------------------


def test_directory_zip_and_tgz_list_the_same_members(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"alpha\nbeta\n")
    (folder / "sub" / "b.xml").write_bytes(b"<x/>")
    expected = {"a.txt": b"alpha\nbeta\n", "sub/b.xml": b"<x/>"}
    zipped = make_zip(tmp_path / "e.zip", [("a.txt", expected["a.txt"]), ("sub/b.xml", expected["sub/b.xml"])])
    tgz = make_tar(tmp_path / "e.tgz", [(tar_info("./a.txt"), expected["a.txt"]), (tar_info("./sub/b.xml"), b"<x/>")])
    assert read_all(folder) == expected
    assert read_all(zipped) == expected
    assert read_all(tgz) == expected


def test_streams_support_readline_and_reopen(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "e.zip", [("lines.jsonl", b"1\n2\n3\n")])
    with Archive(zipped, SMALL) as archive:
        member = archive.member("lines.jsonl")
        with member.open() as stream:
            assert [line for line in stream] == [b"1\n", b"2\n", b"3\n"]
        with member.open() as stream:  # a second read is allowed and not double counted
            assert stream.read() == b"1\n2\n3\n"
        with pytest.raises(UnsafeArchiveError, match=r"e\.zip:absent"):
            archive.member("absent")


# -- zip ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", r"'\.\.'"),
        ("a/../../x", r"'\.\.'"),
        ("/etc/x", "absolute"),
        ("C:/x", "drive"),
        ("a\\..\\x", "backslash"),
        ("a//b", "empty"),
    ],
)
def test_zip_hostile_names_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    zipped = make_zip(tmp_path / "evil.zip", [("ok.txt", b"ok"), (zipfile.ZipInfo(name), b"pwned")])
    with pytest.raises(UnsafeArchiveError, match=rf"evil\.zip:{_re(name)}: .*{reason}"):
        read_all(zipped)


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    zipped = make_zip(tmp_path / "l.zip", [(link, b"/etc/passwd")])
    with pytest.raises(UnsafeArchiveError, match=r"l\.zip:link: symbolic link"):
        read_all(zipped)


def test_zip_duplicate_names_are_refused(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "d.zip", [("a.txt", b"1"), ("a.txt", b"2")])
    with pytest.raises(UnsafeArchiveError, match=r"d\.zip:a\.txt: duplicate"):
        read_all(zipped)


def test_zip_bomb_over_the_ratio_cap_is_refused(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(4 << 20))])
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.zip:zeros\.bin: compression ratio"):
        read_all(zipped)


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "many.zip", [(f"f{i}", b"x") for i in range(SMALL.max_members + 1)])
    with pytest.raises(UnsafeArchiveError, match=r"many\.zip:.*more members than the cap"):
        read_all(zipped)


def test_member_and_total_size_caps(tmp_path: Path) -> None:
    big = os.urandom(1 << 20)  # incompressible: only the size caps can stop it
    zipped = make_zip(tmp_path / "big.zip", [(f"f{i}", big) for i in range(3)])
    with pytest.raises(UnsafeArchiveError, match=r"big\.zip:f0: member over the size cap"):
        read_all(zipped, Limits(max_member_size=1000))
    with pytest.raises(UnsafeArchiveError, match=r"big\.zip:f2: total uncompressed size"):
        read_all(zipped, Limits(max_total_size=(2 << 20) + 10))


def _patch_sizes(path: Path, declared: int) -> None:
    """Rewrite the uncompressed size in the local header and the central directory (a lying header)."""
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    data[local + 22 : local + 26] = declared.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("declared", [100, 3 << 20])
def test_zip_header_lying_about_size_is_caught_while_streaming(tmp_path: Path, declared: int) -> None:
    payload = os.urandom(1 << 20)
    zipped = make_zip(tmp_path / "liar.zip", [("data.bin", payload)])
    _patch_sizes(zipped, declared)
    with Archive(zipped, SMALL) as archive:
        member = archive.member("data.bin")
        assert member.size == declared  # the header lies and the listing believes it...
        with pytest.raises(UnsafeArchiveError, match=r"liar\.zip:data\.bin: "):
            _drain(member)  # ...but the bytes read give it away


def test_zip_lying_small_header_cannot_hide_a_bomb(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(4 << 20))])
    _patch_sizes(zipped, 1000)  # declared small enough to pass every cap
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.zip:zeros\.bin: "):
        read_all(zipped)


# -- tar ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (tar_info("../x"), r"'\.\.'|filter"),
        (tar_info("/etc/x"), "absolute|filter"),
        (tar_info("link", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (tar_info("hard", tarfile.LNKTYPE, "ok.txt"), "link"),
        (tar_info("dev", tarfile.CHRTYPE), "not a regular file"),
        (tar_info("pipe", tarfile.FIFOTYPE), "not a regular file"),
    ],
)
def test_tar_hostile_members_are_refused(tmp_path: Path, info: tarfile.TarInfo, reason: str) -> None:
    data = b"pwned" if info.type == tarfile.REGTYPE else None
    tgz = make_tar(tmp_path / "evil.tgz", [(tar_info("ok.txt"), b"ok"), (info, data)])
    with pytest.raises(UnsafeArchiveError, match=rf"evil\.tgz:{_re(info.name)}: .*({reason})"):
        read_all(tgz)


def test_tar_duplicates_and_bomb(tmp_path: Path) -> None:
    dup = make_tar(tmp_path / "dup.tar.gz", [(tar_info("a"), b"1"), (tar_info("a"), b"2")])
    with pytest.raises(UnsafeArchiveError, match=r"dup\.tar\.gz:a: duplicate"):
        read_all(dup)
    bomb = make_tar(tmp_path / "bomb.tgz", [(tar_info("zeros"), bytes(4 << 20))])
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.tgz:zeros: compression ratio"):
        read_all(bomb)


# -- directories --------------------------------------------------------------------------------------


def test_directory_links_and_fifo_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "ok.txt").write_bytes(b"ok")
    (folder / "link").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match=r"dir:link: symbolic link"):
        read_all(folder)
    (folder / "link").unlink()
    (folder / "sub").symlink_to(tmp_path, target_is_directory=True)  # would loop back if followed
    with pytest.raises(UnsafeArchiveError, match=r"dir:sub: symbolic link"):
        read_all(folder)
    (folder / "sub").unlink()
    (tmp_path / "outside.txt").write_bytes(b"secret")
    os.link(tmp_path / "outside.txt", folder / "hard")
    with pytest.raises(UnsafeArchiveError, match=r"dir:hard: hard link"):
        read_all(folder)
    (folder / "hard").unlink()
    os.mkfifo(folder / "pipe")
    with pytest.raises(UnsafeArchiveError, match=r"dir:pipe: not a regular file"):
        read_all(folder)


# -- lenient mode and extraction ----------------------------------------------------------------------


def test_lenient_mode_skips_and_reports(tmp_path: Path) -> None:
    zipped = make_zip(
        tmp_path / "mixed.zip", [("ok.txt", b"ok"), (zipfile.ZipInfo("../evil"), b"x"), ("ok.txt", b"again")]
    )
    problems = Problems()
    names = [member.name for member in iter_members(zipped, SMALL, on_problem=problems.add)]
    assert names == ["ok.txt"]
    reported = {p.code: p for p in problems}
    assert reported["archive.unsafe-member"].count == 2
    assert "mixed.zip:../evil" in reported["archive.unsafe-member"].examples


def test_extract_all_writes_only_when_asked_and_never_overwrites(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "e.zip", [("a/b.txt", b"b"), ("c.txt", b"c")])
    dest = tmp_path / "out"
    written = extract_all(zipped, dest, SMALL)
    assert sorted(p.relative_to(dest.resolve()).as_posix() for p in written) == ["a/b.txt", "c.txt"]
    assert (dest / "a" / "b.txt").read_bytes() == b"b"
    with pytest.raises(FileExistsError):
        extract_all(zipped, dest, SMALL)


@given(st.text(alphabet=st.sampled_from(list("ab./\\:C\x00")), max_size=12))
def test_accepted_names_stay_inside_the_root(raw: str) -> None:
    try:
        name = check_member_name(raw)
    except ValueError:
        return
    joined = posixpath.normpath(posixpath.join("/root", name))
    assert joined.startswith("/root/")
    assert ".." not in name.split("/")
    assert "\\" not in name


def _drain(member: Member) -> None:
    with member.open() as stream:
        while stream.read(4096):
            pass


def _re(text: str) -> str:
    import re

    return re.escape(text)


_VALID_ZIP = io.BytesIO()
with zipfile.ZipFile(_VALID_ZIP, "w", compression=zipfile.ZIP_DEFLATED) as _archive:
    _archive.writestr("a.txt", b"alpha " * 50)
    _archive.writestr("sub/b.bin", bytes(range(256)) * 4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID_ZIP.getvalue()) - 1), st.integers(0, 255)), max_size=4))
def test_corrupted_zip_gives_a_clear_error_never_a_traceback(edits: list[tuple[int, int]]) -> None:
    _read_corrupted(_VALID_ZIP.getvalue(), "fuzz.zip", edits)


_VALID_TGZ = io.BytesIO()
with tarfile.open(fileobj=_VALID_TGZ, mode="w:gz") as _tar:
    for _name, _data in (("a.txt", b"alpha " * 50), ("sub/b.bin", bytes(range(256)) * 4)):
        _info = tarfile.TarInfo(_name)
        _info.size = len(_data)
        _tar.addfile(_info, io.BytesIO(_data))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID_TGZ.getvalue()) - 1), st.integers(0, 255)), max_size=4))
def test_corrupted_tgz_gives_a_clear_error_never_a_traceback(edits: list[tuple[int, int]]) -> None:
    _read_corrupted(_VALID_TGZ.getvalue(), "fuzz.tgz", edits)


def _read_corrupted(valid: bytes, name: str, edits: list[tuple[int, int]]) -> None:
    """Read *valid* with bytes overwritten at *edits*: readable, or an InputError naming the file."""
    data = bytearray(valid)
    for position, value in edits:
        data[position] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(bytes(data))
        message = ""
        try:
            read_all(path)
        except InputError as exc:  # UnsafeArchiveError included; anything else fails the test
            message = str(exc)
        assert message == "" or name in message


@pytest.mark.parametrize("spec", ["aaf:/dev/zero", "package:/dev/zero", "aaf:/dev/null"])
def test_an_endless_or_special_file_is_refused_at_once(spec: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ent_migrate", "inspect", spec], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 1
    assert "not a regular file or a folder" in done.stderr
    assert "Traceback" not in done.stderr
