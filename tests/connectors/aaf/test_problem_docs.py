"""docs/problems.md and PROBLEM_CODES list the same codes, with the same severities; for every code the
AAF reader reports, the doc says what happens to the record, and the reader does exactly that."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ent_migrate.model import Function, Guardianship, Membership, Person, Record, Structure
from ent_migrate.problems import PROBLEM_CODES
from tests.connectors.aaf.helpers import document, etab, guardian, pupil, read_all, request, staff, write_bundle

DOC = Path(__file__).resolve().parents[3] / "docs" / "problems.md"
#: the words a "What happens to the record" line starts with
FATES = ("kept", "dropped", "excluded", "not read")


def sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## `([^`]+)`\s*$", text, flags=re.M)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def documented() -> dict[str, str]:
    out = {}
    for code, body in sections().items():
        severity = re.search(r"\*\*Severity\*\*: (\w+)", body)
        assert severity is not None, f"docs/problems.md: {code} has no severity"
        for part in ("**Meaning**", "**What to do**"):
            assert part in body, f"docs/problems.md: {code} has no {part}"
        out[code] = severity.group(1)
    return out


def fate(code: str) -> str:
    body = sections()[code]
    found = re.search(r"\*\*What happens to the record\*\*: (.*)", body)
    assert found is not None, f"docs/problems.md: {code} does not say what happens to the record"
    line = found.group(1)
    starts = [f for f in FATES if line.startswith(f)]
    assert starts, f"docs/problems.md: {code}: 'What happens to the record' starts with none of {FATES}"
    return starts[0]


def test_docs_and_vocabulary_list_the_same_codes() -> None:
    docs = documented()
    assert sorted(docs) == sorted(PROBLEM_CODES)
    assert {code: str(sev) for code, (sev, _) in PROBLEM_CODES.items()} == docs


# -- what the AAF reader does for each code it reports ----------------------------------------------
Read = tuple[list[Record], list[dict[str, object]]]


def _read(tmp_path: Path, files: dict[str, bytes], **options: object) -> Read:
    return read_all(write_bundle(tmp_path / "b", files), None, **options)  # known=None: **options are options


def _ids(records: list[Record]) -> set[str]:
    return {r.id for r in records if isinstance(r, Person)}


def _malformed(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    eleves = document([pupil("100"), pupil("101")]).replace(b"</ficAlimMENESR>", b"<addRequest>")
    read = _read(tmp_path, {"EtabEducNat": document([etab()]), "Eleve": eleves})
    return read, lambda records: _ids(records) == {"100", "101"}  # before the fault: kept; after: not read


def _dtd(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    evil = document([guardian("500")]).replace(b"SYSTEM", b'[<!ENTITY x "y">]>\n<!-- ', 1)
    read = _read(tmp_path, {"EtabEducNat": document([etab()]), "PersRelEleve": evil})
    return read, lambda records: not _ids(records) and any(isinstance(r, Structure) for r in records)


def _entity(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    data = document([guardian("500", sn="AXXB")]).replace(b"AXXB", b"A&bogus;B")  # the helper escapes "&"
    read = _read(tmp_path, {"PersRelEleve": data})
    return read, lambda records: any(isinstance(r, Person) and r.last_name == "A&bogus;B" for r in records)


def _unexpected(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    junk = "<junk><x/></junk>\n" * 3
    read = _read(tmp_path, {"PersRelEleve": document([junk, guardian("500"), junk])})
    return read, lambda records: _ids(records) == {"500"}


def _too_large(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    big = guardian("501", ENTPersonAutresPrenoms=["x" * 100] * 3000)  # ~ 340 KB
    read = _read(
        tmp_path, {"PersRelEleve": document([guardian("500"), big, guardian("502")])}, max_record_bytes=1 << 17
    )
    return read, lambda records: _ids(records) == {"500", "502"}


def _unsupported(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    read = _read(tmp_path, {"PersRelEleve": document([guardian("500")]).replace(b"UTF-8", b"KOI8-R")})
    return read, lambda records: not records


def _mixed(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    data = document([guardian("500", sn="\xc9LO\xcfSE"), guardian("501", sn="DUPONT\u00c3\u00a9")], "ISO-8859-15")
    read = _read(tmp_path, {"PersRelEleve": data})
    return read, lambda records: _ids(records) == {"500", "501"}


def _missing_field(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    read = _read(tmp_path, {"PersRelEleve": document([guardian("500", givenName="")])})
    return read, lambda records: any(isinstance(r, Person) and r.first_name == "" for r in records)


def _invalid(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    files = {"EtabEducNat": document([etab()]), "Eleve": document([pupil("100", parents=["100$10$0$1$0$0"])])}
    read = _read(tmp_path, files)
    return read, lambda records: _ids(records) == {"100"} and not any(isinstance(r, Guardianship) for r in records)


def _date(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    read = _read(tmp_path, {"PersRelEleve": document([guardian("500", ENTPersonDateNaissance="1980-01-02")])})
    return read, lambda records: any(isinstance(r, Person) and r.birth_date is None for r in records)


def _ine_duplicate(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    eleves = document([pupil("100", ine="123456789AB"), pupil("101", ine="123456789AB")])
    read = _read(tmp_path, {"EtabEducNat": document([etab()]), "Eleve": eleves})
    return read, lambda records: _ids(records) == {"100", "101"}


def _uai_missing(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    read = _read(tmp_path, {"EtabEducNat": document([etab(uai="")])})
    return read, lambda records: not any(isinstance(r, Structure) for r in records)


def _uai_invalid(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    read = _read(tmp_path, {"EtabEducNat": document([etab(uai="0350001A")])})
    return read, lambda records: any(isinstance(r, Structure) and r.uai == "0350001A" for r in records)


def _dangling(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    files = {"EtabEducNat": document([etab()]), "Eleve": document([pupil("100", parents=["500$10$0$1$0$0"])])}
    read = _read(tmp_path, files)
    return read, lambda records: _ids(records) == {"100"} and not any(isinstance(r, Guardianship) for r in records)


def _outside(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    teacher = staff("900", ["10$ENS$X$L1$Y", "77$ENS$X$L1$Y"], ENTAuxEnsClasses=["77$6A"])
    read = _read(tmp_path, {"EtabEducNat": document([etab()]), "PersEducNat": document([teacher])})

    def check(records: list[Record]) -> bool:
        functions = [r for r in records if isinstance(r, Function)]
        links = [r for r in records if isinstance(r, Membership)]
        return _ids(records) == {"900"} and [f.uai for f in functions] == ["0350001L"] and not links

    return read, check


def _duplicate(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    files = {"PersRelEleve_0": document([guardian("500")]), "PersRelEleve_1": document([guardian("500", sn="OTHER")])}
    read = _read(tmp_path, files)
    return read, lambda records: [r.last_name for r in records if isinstance(r, Person)] == ["PARENT"]


def _orphan(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    read = _read(tmp_path, {"PersRelEleve": document([guardian("500")])})
    return read, lambda records: _ids(records) == {"500"}


def _delete(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    data = document([guardian("500"), request("PersRelEleve", "500", {}, op="deleteRequest")])
    read = _read(tmp_path, {"PersRelEleve": data})
    return read, lambda records: _ids(records) == {"500"}


def _unknown(tmp_path: Path) -> tuple[Read, Callable[[list[Record]], bool]]:
    folder = write_bundle(tmp_path / "b", {"PersRelEleve": document([guardian("500")])})
    (folder / "extra.xml").write_bytes(document([guardian("501")]))
    read = read_all(folder)
    return read, lambda records: _ids(records) == {"500"}


CASES: dict[str, Callable[[Path], tuple[Read, Callable[[list[Record]], bool]]]] = {
    "xml.malformed": _malformed,
    "xml.dtd-forbidden": _dtd,
    "xml.entity-undefined": _entity,
    "xml.unexpected-element": _unexpected,
    "record.too-large": _too_large,
    "encoding.unsupported": _unsupported,
    "encoding.mixed": _mixed,
    "record.missing-field": _missing_field,
    "record.invalid": _invalid,
    "date.invalid": _date,
    "ine.duplicate": _ine_duplicate,
    "uai.missing": _uai_missing,
    "uai.invalid": _uai_invalid,
    "ref.dangling": _dangling,
    "ref.outside-export": _outside,
    "person.duplicate": _duplicate,
    "guardian.orphan": _orphan,
    "delete.not-applied": _delete,
    "file.unknown": _unknown,
}
#: what the doc must say for each case (its first word), checked against the reader's behaviour above
EXPECTED_FATE = {
    "xml.malformed": "not read",
    "xml.dtd-forbidden": "not read",
    "encoding.unsupported": "not read",
    "file.unknown": "not read",
    "record.too-large": "dropped",
    "uai.missing": "dropped",
    "person.duplicate": "dropped",
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_the_reader_does_what_the_doc_says(code: str, tmp_path: Path) -> None:
    (records, problems), holds = CASES[code](tmp_path)
    assert code in {p["code"] for p in problems}, f"the case for {code} does not trigger it: {problems}"
    assert fate(code) == EXPECTED_FATE.get(code, "kept")
    assert holds(records), f"{code}: the records read are not what docs/problems.md says"
