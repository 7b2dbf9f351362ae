"""Hostile ONDE CSV files (issue 9 item 5): bare-CR and mixed line ends read like CRLF, and a cell or a
line over its cap is a problem on that line — never a raw ``_csv.Error`` — while the rest of the file
is read."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.onde import OndeConnector
from ent_migrate.connectors.onde._text import MAX_CELL_CHARS, MAX_LINE_BYTES, _physical_lines
from ent_migrate.errors import InputError
from ent_migrate.model import Person, Record

DATA = Path(__file__).resolve().parent / "data"
UAI = "0610001V"
HEADER = (
    "Nom élève;Nom d'usage élève;Prénom élève;Date naissance;Sexe;INE;Adresse1;Cp1;Commune1;Pays1;"
    " Cycle;Niveau;Libellé classe;Identifiant classe;Attestation fournie"
)


def row(last: str, first: str, ine: str) -> str:
    return f'"{last}";;"{first}";"03/02/2017";"F";"{ine}";;;;;"CYCLE II";"CP";"CP A";"C1";"Oui"'


def read(path: Path) -> tuple[list[Record], OndeConnector]:
    connector = OndeConnector(str(path), {"uai": UAI})
    return [*connector.read_accounts(), *connector.read_groups(), *connector.read_relations()], connector


def problems(connector: OndeConnector) -> dict[str, tuple[list[str], list[str]]]:
    return {p.code: (p.examples, p.details) for p in connector.problems}


def test_bare_cr_and_mixed_line_ends_read_like_crlf() -> None:
    expected, _ = read(DATA / "line-ends" / "crlf.csv")
    assert len([r for r in expected if isinstance(r, Person)]) == 4
    for name in ("crlf.csv", "bare-cr.csv", "mixed.csv"):
        records, connector = read(DATA / "line-ends" / name)
        assert records == expected, name
        # the impossible date of line 4 is placed on line 4 whatever the line ends
        assert problems(connector) == {
            "date.invalid": ([f"{name}:4"], ["birth date: neither dd/mm/yyyy nor yyyy-mm-dd"])
        }, name


def test_a_cell_over_the_cap_is_a_problem_on_its_line(tmp_path: Path) -> None:
    lines = [HEADER, row("ALPHA", "Élodie", "1234567890A"), row("B" * (MAX_CELL_CHARS + 1), "Luc", "1234567890B")]
    lines += [row("DELTA", "Noé", "1234567890D")]
    path = tmp_path / "eleves.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    records, connector = read(path)
    assert sorted(p.last_name for p in records if isinstance(p, Person)) == ["ALPHA", "DELTA"]
    assert problems(connector) == {"record.invalid": (["eleves.csv:3"], ["a cell over the size cap"])}


def test_a_stray_quote_loses_only_its_own_line(tmp_path: Path) -> None:
    """An opening quote never closed swallows the next lines into one cell until the cap: only its own
    line is the bad record, the lines after it are read again as records."""
    # unquoted rows: a quote left open runs through them (a quoted row would close it)
    filler = [row(f"NOM{i}", "Prénom", f"{i:010d}A").replace('"', "") for i in range(MAX_CELL_CHARS // 50)]
    lines = [HEADER, row("ALPHA", "Élodie", "1234567890A"), '"OPEN;;Luc;03/02/2017', *filler]
    path = tmp_path / "eleves.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    records, connector = read(path)
    assert len([p for p in records if isinstance(p, Person)]) == 1 + len(filler)
    assert problems(connector) == {"record.invalid": (["eleves.csv:3"], ["a cell over the size cap"])}


def test_a_huge_quoted_cell_is_reported_and_its_inside_never_read_as_records(tmp_path: Path) -> None:
    cell = "\r\n".join(["x" * 1000] * (MAX_CELL_CHARS // 1000 + 1))
    lines = [HEADER, row("ALPHA", "Élodie", "1234567890A"), row(cell, "Luc", "1234567890B")]
    lines += [row("DELTA", "Noé", "1234567890D")]
    path = tmp_path / "eleves.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    records, connector = read(path)
    assert sorted(p.last_name for p in records if isinstance(p, Person)) == ["ALPHA", "DELTA"]
    found = problems(connector)
    assert found["record.invalid"][0][0] == "eleves.csv:3"
    assert "a cell over the size cap" in found["record.invalid"][1]
    # the cell's inside lines are reported (no first name, or not a record), never migrated
    assert set(found) <= {"record.invalid", "record.missing-field"}


def test_a_quote_left_open_to_the_end_of_the_file_loses_only_its_line(tmp_path: Path) -> None:
    delta = row("DELTA", "Noé", "1234567890D").replace('"', "")
    lines = [HEADER, row("ALPHA", "Élodie", "1234567890A"), '"OPEN;;Luc;03/02/2017', delta]
    path = tmp_path / "eleves.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    records, connector = read(path)
    assert sorted(p.last_name for p in records if isinstance(p, Person)) == ["ALPHA", "DELTA"]
    assert problems(connector) == {"record.invalid": (["eleves.csv:3"], ["a quote left open"])}


def test_a_line_over_the_cap_is_skipped_not_allocated(tmp_path: Path) -> None:
    path = tmp_path / "eleves.csv"
    with path.open("wb") as fh:
        fh.write((HEADER + "\n" + row("ALPHA", "Élodie", "1234567890A") + "\n").encode("utf-8"))
        fh.write(b"y" * (MAX_LINE_BYTES + 10) + b"\r")  # line 3, ended by a bare CR
        fh.write((row("DELTA", "Noé", "1234567890D") + "\n").encode("utf-8"))
    records, connector = read(path)
    assert sorted(p.last_name for p in records if isinstance(p, Person)) == ["ALPHA", "DELTA"]
    assert problems(connector) == {"record.invalid": (["eleves.csv:3"], ["a line over the size cap"])}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"\xe9", b";", b'"', b"\r", b"\n", b"\r\n"]), max_size=60),
    st.integers(min_value=1, max_value=7),
)
def test_physical_lines_split_on_every_line_end_at_any_chunk_size(parts: list[bytes], chunk: int) -> None:
    data = b"".join(parts)
    expected = re.split(rb"\r\n|\r|\n", data)
    if expected and expected[-1] == b"":
        expected.pop()  # a final line end ends the last line, it does not start an empty one
    assert list(_physical_lines(io.BytesIO(data), chunk)) == expected


def test_an_endless_or_special_file_is_refused() -> None:
    with pytest.raises(InputError, match="not a regular file"):
        list(OndeConnector("/dev/zero", {"uai": UAI}).read_accounts())
