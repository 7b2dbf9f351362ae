"""The HTML report: well-formed, self-contained, in French, with inline SVG charts and escaped data."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import lxml.html

from ent_migrate.privacy import Pseudonymizer
from ent_migrate.report import ReportItem, write_reports
from tests.report._helpers import make_data, verify_items


def _page(tmp_path: Path, pseudo: Pseudonymizer, **overrides: object) -> tuple[str, lxml.html.HtmlElement]:
    items = overrides.pop("items", verify_items())
    kind = str(overrides.pop("kind", "verify"))
    write_reports(make_data(items, kind=kind, **overrides), tmp_path, pseudo)  # type: ignore[arg-type]
    text = (tmp_path / f"{kind}-report.html").read_text("utf-8")
    return text, lxml.html.document_fromstring(text)


def test_html_is_well_formed_and_self_contained(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    text, root = _page(tmp_path, pseudo)
    assert text.startswith("<!DOCTYPE html>")
    assert root.get("lang") == "fr"
    assert root.findtext(".//h1") == "Rapport de vérification"
    assert len(root.findall(".//svg")) == 3  # statuses, kinds, schools
    assert root.findall(".//svg/rect")
    assert root.findall(".//svg/text")
    assert "http" not in text.lower()
    assert root.findall(".//script") == []
    assert root.findall(".//link") == []
    assert root.findall(".//img") == []
    assert not [e for e in root.iter() if isinstance(e.tag, str) and (e.get("src") or e.get("href"))]
    assert "url(" not in text
    assert "@import" not in text


def test_html_shows_counts_schools_problems_and_differences(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    _, root = _page(tmp_path, pseudo)
    sections = {s.get("id"): s.text_content() for s in root.findall(".//section")}
    assert set(sections) >= {"resume", "graphiques", "comptes", "etablissements", "problemes", "differences", "seuils"}
    assert "5 différence(s) sur 8 élément(s)" in sections["resume"]
    assert "absent de la cible" in sections["comptes"]
    school_rows = root.xpath("//section[@id='etablissements']//tbody/tr")
    assert [r.xpath("string(td[1])") for r in school_rows] == ["0750001A", "0750002B"]
    # élève, responsable, enseignant, personnel, total for the first school
    assert [td.text_content() for td in school_rows[0].findall("td")][1:] == ["412", "690", "38", "12", "1\u202f152"]
    assert "ine.missing" in sections["problemes"]
    assert "Eleve_0000.xml:120" in sections["problemes"]
    assert pseudo("ine:070123457AB") in sections["differences"]
    assert "fields differ: given_name, emails" in sections["differences"]
    assert "TimeoutError" in sections["differences"]
    assert "max_deletions" in sections["seuils"]


def test_html_plan_title_and_clean_run(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [ReportItem("person", "ine:1", "skip")]
    _, root = _page(tmp_path, pseudo, items=items, kind="plan", problems=[], counts_by_school={})
    assert root.findtext(".//h1") == "Rapport de planification (simulation)"
    assert "Aucune opération à faire" in root.xpath("string(//section[@id='resume'])")
    assert root.xpath("//section[@id='etablissements']") == []


def test_html_escapes_everything_it_is_given(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    hostile = '<script>alert(1)</script>"><img src=x>'
    items = [ReportItem("group", f"0750001A${hostile}", "+", hostile, uai=hostile)]
    text, root = _page(
        tmp_path,
        pseudo,
        items=items,
        source=hostile,
        thresholds={hostile: hostile},
        counts_by_school={hostile: {"student": 1}},
    )
    assert root.findall(".//script") == []
    assert root.findall(".//img") == []
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_chart_bars_are_proportional(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [ReportItem("person", f"k{i}", "=") for i in range(300)] + [ReportItem("person", "x", "+")]
    _, root = _page(tmp_path, pseudo, items=items)
    first = root.findall(".//svg")[0]
    widths = {r.findtext("title"): float(r.get("width")) for r in first.findall("rect")}
    assert widths["identique (=) : 300"] == 520.0
    assert widths["absent de la cible (+) : 1"] >= 1.0  # one difference among many stays visible


def test_many_schools_are_capped_in_the_chart_but_all_in_the_table(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    schools = {f"07{i:05d}X": {"student": i + 1} for i in range(45)}
    text, root = _page(tmp_path, pseudo, counts_by_school=schools)
    assert len(root.xpath("//section[@id='etablissements']//tbody/tr")) == 45
    assert re.search(r"et 15 autre\(s\) ligne\(s\)", text)


def test_an_empty_run_still_renders(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    _text, root = _page(
        tmp_path, pseudo, items=[], counts={}, counts_by_kind={}, counts_by_school={}, problems=[], thresholds={}
    )
    assert "Aucune différence" in root.xpath("string(//section[@id='resume'])")
    assert root.xpath("string(//section[@id='differences'])").strip().endswith("Aucune.")
    assert len(root.findall(".//svg")) == 1


def test_plan_verdict_counts_invalid_items_apart(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [
        ReportItem("person", "a", "create"),
        ReportItem("person", "b", "invalid", "record.invalid"),
        ReportItem("person", "c", "skip"),
    ]
    _, root = _page(tmp_path, pseudo, items=items, kind="plan", problems=[])
    verdict = root.xpath("string(//section[@id='resume']/p[1])")
    assert "1 opération(s) prévue(s) sur 3 élément(s), 1 élément(s) invalide(s)" in verdict
    assert root.xpath("//section[@id='resume']/p[1]/@class") == ["verdict ko"]


def test_unknown_school_and_profile_buckets_are_shown(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    _, root = _page(tmp_path, pseudo, counts_by_school={"?": {"?": 2, "student": 1}})
    headers = [th.text_content() for th in root.xpath("//section[@id='etablissements']//thead/tr/th")]
    assert headers == ["UAI", "élève", "?", "Total"]
    assert root.xpath("string(//section[@id='etablissements']//tbody/tr/td[last()])") == "3"


_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


class _Balance(HTMLParser):
    """Stricter than lxml's forgiving parser: every non-void element is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return  # <rect/> style self-closing: nothing to balance

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()


def test_every_element_is_closed_in_order(tmp_path: Path, pseudo: Pseudonymizer) -> None:
    items = [*verify_items(), *(ReportItem("person", f"k{i}", "*", "fields differ: sn") for i in range(30))]
    text, _ = _page(tmp_path, pseudo, items=items)
    checker = _Balance()
    checker.feed(text)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
