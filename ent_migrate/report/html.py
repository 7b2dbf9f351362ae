"""The HTML report: one self-contained page in French (Jinja2, autoescaped, inline CSS and SVG).

Everything shown comes from the already-scrubbed JSON document (pseudonyms, redacted free text), so
the page cannot say more than the JSON does.
"""

from __future__ import annotations

from typing import Any

import jinja2

from ent_migrate.report.charts import Chart, bar_chart, stacked_chart
from ent_migrate.report.collect import Collected, ordered_statuses
from ent_migrate.report.model import ReportData

__all__ = ["KIND_LABELS", "PROFILE_LABELS", "STATUS_LABELS", "TITLES", "render_html"]

TITLES: dict[str, str] = {
    "plan": "Rapport de planification (simulation)",
    "verify": "Rapport de vérification",
}

#: status or mark → (French label, colour).
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "=": ("identique", "#2e7d32"),
    "+": ("absent de la cible", "#c62828"),
    "-": ("seulement sur la cible", "#ef6c00"),
    "*": ("différent", "#f9a825"),
    "!": ("erreur", "#6a1b9a"),
    "create": ("création", "#1565c0"),
    "update": ("mise à jour", "#00838f"),
    "disable": ("désactivation", "#ef6c00"),
    "delete": ("suppression", "#c62828"),
    "move": ("déplacement", "#5e35b1"),
    "skip": ("inchangé", "#78909c"),
    "invalid": ("invalide", "#6a1b9a"),
}

KIND_LABELS: dict[str, str] = {
    "structure": "établissement",
    "person": "personne",
    "function": "fonction",
    "group": "groupe ou classe",
    "membership": "appartenance",
    "guardianship": "responsabilité légale",
    "mailbox": "boîte aux lettres",
    "message": "message",
    "document": "document",
    "production": "production",
}

PROFILE_LABELS: dict[str, tuple[str, str]] = {
    "student": ("élève", "#1e88e5"),
    "guardian": ("responsable", "#43a047"),
    "teacher": ("enseignant", "#fb8c00"),
    "staff": ("personnel", "#8e24aa"),
}

_SEVERITY_LABELS = {"error": "erreur", "warning": "avertissement"}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("ent_migrate.report", "templates"),
    autoescape=True,  # every label, reason and spec is data: never markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _status_label(status: str) -> str:
    return STATUS_LABELS.get(status, (status, ""))[0]


def _status_colour(status: str) -> str:
    return STATUS_LABELS.get(status, ("", "#9e9e9e"))[1]


def _number(value: Any) -> str:
    # French thousands separator (narrow no-break space), so 1 234 567 reads at a glance.
    return f"{value:,}".replace(",", "\u202f") if isinstance(value, int) else str(value)


def _charts(data: ReportData, statuses: list[str]) -> list[Chart]:
    heading = "Éléments par marque" if data.kind == "verify" else "Opérations prévues par statut"
    rows = [
        (f"{_status_label(s)} ({s})" if len(s) == 1 else _status_label(s), data.counts.get(s, 0), _status_colour(s))
        for s in statuses
    ]
    charts = [bar_chart(heading, rows)]
    if data.counts_by_kind:
        series = [(s, _status_label(s), _status_colour(s)) for s in statuses]
        by_kind = {KIND_LABELS.get(k, k): v for k, v in data.counts_by_kind.items()}
        charts.append(stacked_chart("Par type d'élément", by_kind, series))
    if data.counts_by_school:
        series = [(p, label, colour) for p, (label, colour) in PROFILE_LABELS.items()]
        by_school = dict(sorted(data.counts_by_school.items()))
        charts.append(stacked_chart("Personnes par établissement et profil", by_school, series))
    return charts


def render_html(data: ReportData, document: dict[str, Any], collected: Collected, cap: int) -> str:
    """The page for ``data``; ``document`` is the scrubbed JSON, ``collected`` the capped lists."""
    statuses = ordered_statuses(list(data.counts))
    kind_statuses = ordered_statuses(list({s for counts in data.counts_by_kind.values() for s in counts}))
    profiles = [p for p in PROFILE_LABELS if any(p in c for c in data.counts_by_school.values())]
    profiles += sorted({p for c in data.counts_by_school.values() for p in c} - set(PROFILE_LABELS))
    lists, truncated = collected.capped(cap)
    template = _env.get_template("report.html.j2")
    return template.render(
        title=TITLES.get(data.kind, f"Rapport ({data.kind})"),
        doc=document,
        total=sum(data.counts.values()),
        differences=sum(n for s, n in data.counts.items() if s not in {"=", "skip", "invalid"}),
        invalid=data.counts.get("invalid", 0),
        statuses=statuses,
        kind_statuses=kind_statuses,
        profiles=profiles,
        charts=_charts(data, statuses),
        lists=lists,
        truncated=truncated,
        status_label=_status_label,
        status_colour=_status_colour,
        kind_label=lambda k: KIND_LABELS.get(k, k),
        profile_label=lambda p: PROFILE_LABELS.get(p, (p, ""))[0] if p else "",
        severity_label=lambda s: _SEVERITY_LABELS.get(s, s),
        number=_number,
    )
