"""Issue 9 items 1-3: hostile AAF files. Small ones are data files (tests/connectors/aaf/data/NAME__CODE.xml: reading
it reports CODE and never raises); big ones are generated, streamed, in tmp_path, and read in a child
process whose peak RSS (VmHWM; ``ru_maxrss`` is printed too) must stay under 200 MB."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ent_migrate.model import Person
from ent_migrate.problems import Problems
from ent_migrate.xmlsafe import iter_elements
from tests.connectors.aaf.helpers import HEADER, document, guardian, problem, read_all, write_bundle

DATA = Path(__file__).resolve().parent / "data"
NAME = "ENT2D_Complet_20240916_PersRelEleve_0000.xml"
PEAK_LIMIT = 200 * 2**20
HOSTILE_SIZE = 200 * 2**20


@pytest.mark.parametrize("path", sorted(DATA.glob("*__*.xml")), ids=lambda p: p.name)
def test_hostile_data_files(path: Path, tmp_path: Path) -> None:
    code = path.stem.rpartition("__")[2]
    folder = write_bundle(tmp_path / "b", {"PersRelEleve": path.read_bytes()})
    records, problems = read_all(folder)
    found = problem(problems, code)
    assert all(str(e).startswith(NAME) for e in found["examples"])  # type: ignore[attr-defined]
    if code in ("encoding.unsupported", "xml.dtd-forbidden") or "empty" in path.name or "whitespace" in path.name:
        assert records == []  # refused before anything is parsed
    if code in ("encoding.mixed", "xml.unexpected-element"):
        assert {r.id for r in records if isinstance(r, Person)} >= {"500"}  # kept, flagged


def test_utf16_without_bom_is_refused_like_any_other_file(tmp_path: Path) -> None:
    data = document([guardian("500")]).decode().replace("UTF-8", "UTF-16").encode("utf-16-le")
    records, problems = read_all(write_bundle(tmp_path / "b", {"PersRelEleve": data}))
    assert records == []
    refused = problem(problems, "encoding.unsupported")
    assert refused["examples"] == [f"{NAME}:1"]
    assert refused["details"] == ["UTF-16 without a byte-order mark (only ASCII-compatible encodings are read)"]


def test_mixed_latin9_and_utf8_is_read_as_declared_and_flagged(tmp_path: Path) -> None:
    data = (DATA / "latin9-with-utf8-run__encoding.mixed.xml").read_bytes()
    records, problems = read_all(write_bundle(tmp_path / "b", {"PersRelEleve": data}))
    names = {r.id: r.last_name for r in records if isinstance(r, Person)}
    assert names == {"500": "ÉLOÏSE", "501": "DUPONTÃ©"}  # as read: the UTF-8 bytes decoded as Latin-9
    mixed = problem(problems, "encoding.mixed")
    assert mixed["examples"] == [f"{NAME}:4"]
    assert mixed["count"] == 1
    assert {p["code"] for p in problems} == {"encoding.mixed", "guardian.orphan"}


def test_unexpected_elements_are_counted_once_per_file_and_tag(tmp_path: Path) -> None:
    junk = "".join(f"<junk>{i}</junk>\n" for i in range(500))
    body = [junk, guardian("500"), "<other><junk/></other>\n", guardian("501"), junk]
    data = document(body)
    records, problems = read_all(write_bundle(tmp_path / "b", {"PersRelEleve": data}))
    assert {r.id for r in records if isinstance(r, Person)} == {"500", "501"}
    found = problem(problems, "xml.unexpected-element")
    assert found["count"] == 2  # one problem per tag, not one per element
    assert found["details"] == [
        "<junk>: 1000 elements outside the records, ignored",
        "<other>: 1 element outside the records, ignored",
    ]
    assert found["examples"][0] == f"{NAME}:4"  # type: ignore[index]  # the first <junk>


def test_elements_inside_a_record_are_the_reader_s_business(tmp_path: Path) -> None:
    data = document([guardian("500").replace("<attributes>", "<attributes><extra>x</extra>")])
    _records, problems = read_all(write_bundle(tmp_path / "b", {"PersRelEleve": data}))
    assert "xml.unexpected-element" not in {p["code"] for p in problems}


def test_record_size_cap(tmp_path: Path) -> None:
    big = guardian("501", ENTPersonAutresPrenoms=["x" * 100] * 3000)  # ~340 KB
    small = guardian("502", ENTPersonAutresPrenoms=["y" * 100] * 800)  # ~90 KB
    data = document([guardian("500"), big, small])
    folder = write_bundle(tmp_path / "b", {"PersRelEleve": data})
    records, problems = read_all(folder, max_record_bytes=128 * 1024)
    assert {r.id for r in records if isinstance(r, Person)} == {"500", "502"}
    too_large = problem(problems, "record.too-large")
    line = data.count(b"\n", 0, data.index(b"<addRequest>", data.index(b"<addRequest>") + 1)) + 1
    assert too_large["examples"] == [f"{NAME}:{line}"]
    records, problems = read_all(folder)  # the default cap (1 MiB) keeps all three
    assert len([r for r in records if isinstance(r, Person)]) == 3
    assert "record.too-large" not in {p["code"] for p in problems}


def test_namespaced_root_is_pruned_too() -> None:
    siblings = b"".join(b"<n:junk>%d</n:junk>" % i for i in range(2000))
    data = b'<?xml version="1.0"?>\n<n:root xmlns:n="urn:x">' + siblings + b"<value>a</value></n:root>"
    problems = Problems()
    sizes = []
    for element in iter_elements(io.BytesIO(data), "f.xml", problems, {"value"}, expected=set(), chunk_size=512):
        parent = element.getparent()
        sizes.append(len(parent) if parent is not None else 0)
    assert sizes
    assert max(sizes) < 40
    assert problems.count("xml.unexpected-element") == 1


# -- big generated files, read in a child process --------------------------------------------------
_CHILD = r"""
import json, resource, sys
from ent_migrate.connectors.aaf.connector import AafConnector
from ent_migrate.contract import Capability
connector = AafConnector(sys.argv[1])
count = sum(1 for cap in (Capability.ACCOUNTS, Capability.RELATIONS) for _ in connector.read(cap))
# ru_maxrss survives execve on Linux (it would report the forking pytest's own peak when that is
# larger): VmHWM is this process's high-water mark alone. Both are printed; VmHWM is asserted on.
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
with open("/proc/self/status") as fh:
    hwm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"records": count, "peak": hwm, "maxrss": maxrss, "problems": connector.problems.to_list()}))
"""


def _read_in_child(folder: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"peak RSS {result['peak']} bytes (ru_maxrss {result['maxrss']})")  # shown with -s
    return result


def _stream(path: Path, head: bytes, repeated: bytes, size: int, tail: bytes) -> None:
    block = repeated * max(1, (1 << 20) // len(repeated))
    with path.open("wb") as fh:
        fh.write(head)
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)
        fh.write(tail)


def _bundle(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "b"
    folder.mkdir()
    yield folder / NAME


@pytest.mark.slow
def test_200_mb_of_unexpected_siblings_keep_memory_flat(tmp_path: Path) -> None:
    path = next(_bundle(tmp_path))
    head = HEADER.format(encoding="UTF-8").encode() + b"<ficAlimMENESR>\n" + guardian("500").encode()
    junk = b"<junk><a>some text of no interest to anyone</a><b/></junk>\n"
    _stream(path, head, junk, HOSTILE_SIZE, guardian("501").encode() + b"</ficAlimMENESR>\n")
    result = _read_in_child(path.parent)
    assert result["peak"] < PEAK_LIMIT, f"peak RSS {result['peak']} bytes"  # type: ignore[operator]
    assert result["records"] == 2
    problems = {p["code"]: p for p in result["problems"]}  # type: ignore[attr-defined]
    assert problems["xml.unexpected-element"]["count"] == 1
    assert problems["xml.unexpected-element"]["details"][0].startswith("<junk>: ")


@pytest.mark.slow
def test_one_record_of_200_mb_of_values_is_skipped_with_memory_flat(tmp_path: Path) -> None:
    path = next(_bundle(tmp_path))
    before = guardian("500").encode()
    head = HEADER.format(encoding="UTF-8").encode() + b"<ficAlimMENESR>\n" + before
    open_record = guardian("501").split('<attr name="sn">')[0].encode() + b'<attr name="ENTPersonAutresPrenoms">'
    tail = b"</attr></attributes></addRequest>\n" + guardian("502").encode() + b"</ficAlimMENESR>\n"
    _stream(path, head + open_record, b"<value>Prenom</value>", HOSTILE_SIZE, tail)
    result = _read_in_child(path.parent)
    assert result["peak"] < PEAK_LIMIT, f"peak RSS {result['peak']} bytes"  # type: ignore[operator]
    assert result["records"] == 2  # 500 and 502; 501 is skipped
    problems = {p["code"]: p for p in result["problems"]}  # type: ignore[attr-defined]
    line = (head + open_record).count(b"\n", 0, len(head)) + 1
    assert problems["record.too-large"]["examples"] == [f"{NAME}:{line}"]
