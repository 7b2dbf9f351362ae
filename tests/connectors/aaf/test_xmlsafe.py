"""ent_migrate.xmlsafe: nothing expanded or fetched, encodings checked, malformed files keep their good part."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.problems import Problems
from ent_migrate.xmlsafe import PROLOG_LIMIT, iter_elements, sniff_prolog, text_of

DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
DOCTYPE = b'<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">\n'


def read(data: bytes, chunk_size: int = 1 << 20) -> tuple[list[tuple[str, int]], Problems]:
    problems = Problems()
    out = []
    for element in iter_elements(io.BytesIO(data), "f.xml", problems, {"value"}, chunk_size=chunk_size):
        line = element.sourceline
        out.append((text_of(element), line if isinstance(line, int) else 0))
    return out, problems


def examples(problems: Problems, code: str) -> list[str]:
    return next(p.examples for p in problems if p.code == code)


def test_standard_doctype_is_accepted_and_lines_are_exposed() -> None:
    values, problems = read(DECL + DOCTYPE + b"<r>\n<value>a</value>\n<value>b</value>\n</r>")
    assert values == [("a", 4), ("b", 5)]
    assert len(problems) == 0


def test_internal_subset_is_refused_and_nothing_parsed() -> None:
    data = DECL + b"<!DOCTYPE r [\n<!ELEMENT r ANY>\n]>\n<r><value>a</value></r>"
    values, problems = read(data)
    assert values == []
    assert examples(problems, "xml.dtd-forbidden") == ["f.xml:2"]


def test_xxe_never_reads_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42", encoding="utf-8")
    data = DECL + f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'.encode() + b"<r><value>&xxe;</value></r>"
    values, problems = read(data)
    assert values == []
    assert problems.count("xml.dtd-forbidden") == 1
    assert "TOP-SECRET" not in repr(problems.to_list())


def test_external_dtd_with_entities_is_never_loaded(tmp_path: Path) -> None:
    # Without an internal subset the DTD is external: it is not loaded, so its entities stay undefined
    # and are kept as literal text (reported), never replaced by the file's content.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-43", encoding="utf-8")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY xxe SYSTEM "file://{secret}">', encoding="utf-8")
    data = DECL + f'<!DOCTYPE r SYSTEM "file://{dtd}">\n'.encode() + b"<r><value>&xxe;</value></r>"
    values, problems = read(data)
    assert values == [("&xxe;", 3)]
    assert problems.count("xml.entity-undefined") == 1
    assert "TOP-SECRET" not in repr(values)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - shared by the server thread on purpose

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b'<!ENTITY leak "FETCHED">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_is_fetched_over_the_network(http_server: str) -> None:
    data = DECL + f'<!DOCTYPE r SYSTEM "{http_server}/evil.dtd">\n'.encode() + b"<r><value>&leak;</value></r>"
    values, _problems = read(data)
    subset = (
        DECL + f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{http_server}/p.dtd"> %p;]>\n'.encode() + b"<r><value>x</value></r>"
    )
    _values, problems = read(subset)
    assert _Recorder.hits == []
    assert values == [("&leak;", 3)]
    assert problems.count("xml.dtd-forbidden") == 1


def test_billion_laughs_is_refused_fast() -> None:
    lol = b'<!ENTITY lol0 "lol">' + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
    )
    data = DECL + b"<!DOCTYPE r [" + lol + b"]>\n<r><value>&lol9;</value></r>"
    started = time.monotonic()
    values, problems = read(data)
    assert values == []
    assert problems.count("xml.dtd-forbidden") == 1
    assert time.monotonic() - started < 5  # a bound on the refusal, not a benchmark: expansion would never end


def test_entity_declaration_hidden_after_a_comment_is_refused() -> None:
    data = DECL + b"<!-- a -->\n<!DOCTYPE r [ <!-- b --> ]>\n<!ENTITY x 'y'>\n<r/>"
    _values, problems = read(data)
    assert problems.count("xml.dtd-forbidden") == 1


def test_prolog_longer_than_the_limit_is_refused() -> None:
    data = DECL + b"<!--" + b"x" * PROLOG_LIMIT + b"-->" + b"<r><value>a</value></r>"
    values, problems = read(data)
    assert values == []
    assert problems.count("xml.malformed") == 1


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b'<?xml version="1.0" encoding="KLINGON-8"?>\n<r/>', "unknown encoding"),
        (b'<?xml version="1.0" encoding="UTF-16"?>\n<r/>', "not supported"),
        (b'<?xml version="1.0" encoding="KOI8-R"?>\n<r/>', "not supported"),
        (b"\xff\xfe<\x00r\x00/\x00>\x00", "UTF-16 byte-order mark"),
        (b'\xef\xbb\xbf<?xml version="1.0" encoding="ISO-8859-15"?>\n<r/>', "byte-order mark before"),
    ],
)
def test_unknown_or_conflicting_encodings_are_refused(data: bytes, detail: str) -> None:
    values, problems = read(data)
    assert values == []
    problem = next(p for p in problems if p.code == "encoding.unsupported")
    assert problem.examples == ["f.xml:1"]
    assert any(detail in d for d in problem.details)


def test_declared_utf8_with_latin_bytes_keeps_the_lines_before() -> None:
    data = DECL + b"<r>\n<value>ok</value>\n<value>caf\xe9</value>\n</r>"
    values, problems = read(data)
    assert values == [("ok", 3)]
    assert examples(problems, "encoding.unsupported") == ["f.xml:4"]


def test_declared_latin_with_utf8_text_is_refused() -> None:
    data = b'<?xml version="1.0" encoding="ISO-8859-15"?>\n<r>\n<value>caf\xc3\xa9</value>\n</r>'
    values, problems = read(data)
    assert values == []
    assert examples(problems, "encoding.unsupported") == ["f.xml:3"]


def test_genuine_latin9_is_decoded() -> None:
    data = b'<?xml version="1.0" encoding="ISO-8859-15"?>\n<r><value>\xc9l\xe9onore \xa4</value></r>'
    values, problems = read(data)
    assert values == [("Éléonore €", 2)]
    assert len(problems) == 0


def test_utf8_bom_is_accepted() -> None:
    values, problems = read(b"\xef\xbb\xbf" + DECL + DOCTYPE + "<r><value>é</value></r>".encode())
    assert values == [("é", 3)]
    assert len(problems) == 0


def test_malformed_after_n_records_keeps_the_n() -> None:
    good = b"".join(b"<value>%d</value>\n" % i for i in range(50))
    data = DECL + b"<r>\n" + good + b"<value>broken</valeu>\n" + good + b"</r>"
    values, problems = read(data, chunk_size=64)
    assert [v for v, _ in values] == [str(i) for i in range(50)]
    assert examples(problems, "xml.malformed") == ["f.xml:53"]


def test_truncated_file_keeps_what_was_complete() -> None:
    data = DECL + b"<r>\n<value>1</value>\n<value>2</value>\n<value>3"
    values, problems = read(data)
    assert [v for v, _ in values] == ["1", "2"]
    assert problems.count("xml.malformed") == 1


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=200), chunk=st.integers(min_value=1, max_value=64))
def test_a_file_cut_anywhere_yields_only_records_it_ends(cut: int, chunk: int) -> None:
    # lxml >= 6.2 closes the elements still open when close() meets the end of a truncated file; a
    # record is yielded only if its end tag is in the file, whatever the lxml version or chunk size.
    whole = DECL + b"<r>\n" + b"".join(b"<value>%d</value>\n" % i for i in range(10)) + b"</r>"
    data = whole[: len(DECL) + cut]
    values, problems = read(data, chunk_size=chunk)
    assert [v for v, _ in values] == [str(i) for i in range(data.count(b"</value>"))]
    assert problems.count("xml.malformed") == (0 if data == whole else 1)


def test_a_file_without_its_root_end_keeps_its_last_record() -> None:
    values, problems = read(DECL + b"<r>\n<value>1</value>\n<value>2</value>\n")
    assert [v for v, _ in values] == ["1", "2"]
    assert examples(problems, "xml.malformed") == ["f.xml:5"]  # where the input stops


def test_empty_file_is_malformed() -> None:
    values, problems = read(b"")
    assert values == []
    assert examples(problems, "xml.malformed") == ["f.xml:1"]


def test_html_entities_are_decoded_and_xml_ones_kept() -> None:
    data = DECL + DOCTYPE + b"<r><value>CHEF D&apos;ETABLISSEMENT &eacute;l&egrave;ve &amp;eacute; &lt;</value></r>"
    values, problems = read(data)
    assert values == [("CHEF D'ETABLISSEMENT élève &eacute; <", 3)]
    assert len(problems) == 0


def test_undefined_entity_is_kept_as_text_and_reported() -> None:
    data = DECL + b"<r>\n<value>a&bogus;b</value></r>"
    values, problems = read(data)
    assert values == [("a&bogus;b", 3)]
    assert examples(problems, "xml.entity-undefined") == ["f.xml:3"]


@settings(max_examples=40, deadline=None)
@given(chunk=st.integers(min_value=1, max_value=300))
def test_chunk_boundaries_do_not_change_the_result(chunk: int) -> None:
    body = "".join(f"<value>n&eacute;{i}&apos;&#233;é</value>\n" for i in range(30))
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n<r>\n' + body.encode() + b"</r>"
    values, problems = read(data, chunk_size=chunk)
    reference, reference_problems = read(data)
    assert values == reference
    assert problems.to_list() == reference_problems.to_list() == []


def test_memory_is_released_as_it_goes() -> None:
    # Each yielded element is cleared and its previous siblings deleted: the tree holds at most what one
    # chunk of 128 bytes parsed (8 elements of 16 bytes), never the whole file.
    data = DECL + b"<r>" + b"<value>x</value>" * 1000 + b"</r>"
    problems = Problems()
    sizes = []
    for element in iter_elements(io.BytesIO(data), "f.xml", problems, {"value"}, chunk_size=128):
        parent = element.getparent()
        assert parent is not None
        sizes.append(len(parent))
    assert len(sizes) == 1000
    assert max(sizes) <= 10


def test_undefined_non_ascii_entity_behind_a_doctype_is_not_lost() -> None:
    data = DECL + DOCTYPE + "<r><value>a&été;b</value></r>".encode()
    values, problems = read(data)
    assert values == [("a&été;b", 3)]
    assert problems.count("xml.entity-undefined") == 1


@pytest.mark.parametrize(
    ("head", "found"),
    [
        (b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<!-- x -->\n<BEE_ELEVES VERSION="3">', "BEE_ELEVES"),
        (b"<STS_EDT>", "STS_EDT"),
        (b"", "xml.malformed"),
        (b"  \n", "xml.malformed"),
        (b"hello", "xml.malformed"),
        ("<?xml version='1.0'?><BEE_ELEVES/>".encode("utf-16-le"), "encoding.unsupported"),
        ("<!DOCTYPE r [<!ENTITY a 'b'>]><r/>".encode("utf-16-be"), "xml.dtd-forbidden"),
        (b"<!--" + b"x" * 70_000, "xml.malformed"),  # a prolog running past the sniffed head
    ],
)
def test_sniff_prolog_for_other_readers(head: bytes, found: str) -> None:
    """What the SIECLE discovery calls to classify a file by its root with the same refusals."""
    problems = Problems()
    prolog = sniff_prolog(head, "f.xml", problems.add, limit=64 * 1024)
    if found.isupper():
        assert prolog is not None
        assert prolog.root == found
        assert len(problems) == 0
    else:
        assert prolog is None
        assert [p.code for p in problems] == [found]
