"""The index pass keeps little per person (issue 15: peak RSS at 1M accounts): places as ints, links
settled as they come, structures shared. None of it may change what is read or reported, whatever the
order the files and their sections come in."""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.siecle import SiecleConnector
from ent_migrate.model import Guardianship, Record
from tests.connectors.siecle.test_siecle import (
    UAI,
    eleve,
    eleves,
    examples,
    lien,
    personne,
    read_all,
    structure,
    write,
)

LEVEL1 = "<NIVEAU_RESPONSABILITE>1</NIVEAU_RESPONSABILITE>"
PUPILS = (
    eleve("1", "0000000001A")
    + eleve("2", "0000000002A")
    + eleve("3", "0000000003A", extra="<DATE_SORTIE>01/01/2025</DATE_SORTIE>")  # left: its links excluded
)
STRUCTURES = structure("1", ("6A", "D")) + structure("2", ("6A", "D")) + structure("3", ("6B", "D"))


def _responsables(persons: str, links: str, links_first: bool) -> str:
    blocks = [f"<PERSONNES>\n{persons}</PERSONNES>", f"<RESPONSABLES>\n{links}</RESPONSABLES>"]
    if links_first:
        blocks.reverse()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<BEE_RESPONSABLES VERSION="2.1">\n'
        f"<PARAMETRES><UAJ>{UAI}</UAJ></PARAMETRES>\n<DONNEES>\n"
        + "\n".join(blocks)
        + "\n</DONNEES>\n</BEE_RESPONSABLES>\n"
    )


def _read(folder: Path) -> tuple[list[Record], Counter[tuple[str, str]]]:
    connector = SiecleConnector(str(folder))
    records = read_all(connector)
    found = Counter({(p.code, d): p.count for p in connector.problems for d in p.details or [""]})
    return records, found


# A person: (id, named?); a link: (ELEVE_ID, PERSONNE_ID). Ids overlap on purpose: duplicates, a
# person named in one file and unnamed in the other, links to nobody, to a pupil who left.
_person = st.tuples(st.sampled_from(["P1", "P2", "P3", "P4"]), st.booleans())
_link = st.tuples(st.sampled_from(["1", "2", "3", "9"]), st.sampled_from(["P1", "P2", "P3", "P4", "P5"]))
_file = st.tuples(st.lists(_person, max_size=4), st.lists(_link, max_size=5))


@settings(max_examples=40, deadline=None)
@given(st.lists(_file, min_size=1, max_size=2))
def test_the_guardians_do_not_depend_on_the_order_of_persons_and_links(
    files: list[tuple[list[tuple[str, bool]], list[tuple[str, str]]]],
) -> None:
    """Links before their PERSONNE (settled at the end) and after it (settled at once) give the same
    records and the same problems, in either order of the two files."""
    outcomes = []
    for links_first, swapped in itertools.product((False, True), (False, True)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write(folder, "e.xml", eleves(PUPILS, STRUCTURES))
            for n, (persons, links) in enumerate(reversed(files) if swapped else files):
                persons_xml = "".join(personne(p) if named else personne(p, first="") for p, named in persons)
                links_xml = "".join(lien(e, p, LEVEL1) for e, p in links)
                write(folder, f"r{n}.xml", _responsables(persons_xml, links_xml, links_first))
            records, problems = _read(folder)
        # problems compared by code and detail: their lines move with the sections
        outcomes.append((sorted(map(repr, records)), problems))
    assert all(outcome == outcomes[0] for outcome in outcomes[1:])


def test_a_link_before_its_person_and_a_person_refused_later(tmp_path: Path) -> None:
    write(tmp_path, "e.xml", eleves(PUPILS, STRUCTURES))
    # r1: P1's link comes before P1 (settled at the end); P2 named here, unnamed in r2 (refused)
    write(
        tmp_path,
        "r1.xml",
        _responsables(personne("P1") + personne("P2"), lien("1", "P1", LEVEL1) + lien("2", "P2", LEVEL1), True),
    )
    write(tmp_path, "r2.xml", _responsables(personne("P2", first=""), "", False))
    connector = SiecleConnector(str(tmp_path))
    records = read_all(connector)
    ids = {getattr(r, "id", None) for r in records}
    assert "P1" in ids
    assert "P2" not in ids
    assert [(r.guardian_id, r.student_id) for r in records if isinstance(r, Guardianship)] == [("P1", "1")]
    assert examples(connector, "guardian.orphan") == ["r1.xml:11"]  # P2: every pupil linked is excluded
    assert examples(connector, "record.missing-field") == ["r2.xml:6"]


def test_pupils_of_a_class_share_one_structures_tuple(tmp_path: Path) -> None:
    write(tmp_path, "e.xml", eleves(PUPILS, STRUCTURES))
    connector = SiecleConnector(str(tmp_path))
    index = connector._index()
    assert index.structures["1"] == (("6A", "D"),)
    assert index.structures["1"] is index.structures["2"]
    assert index.where(index.base("x.zip:a.xml") | 12) == "x.zip:a.xml:12"
    assert index.where(~(index.base("b.xml") | 3)) == "b.xml:3"  # a linked person's complemented place
    assert index.where(index.base("c.xml")) == "c.xml"  # no line known
