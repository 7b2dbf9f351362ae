"""The family notice (French HTML, to print or send), from the Jinja2 template shipped as package data."""

from __future__ import annotations

import datetime as dt

import jinja2

__all__ = ["render_notice"]

_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def _fr(day: dt.date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ent_migrate.promotion", "templates"),
    autoescape=True,  # a name with "<" stays text
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["fr"] = _fr


def render_notice(**values: object) -> str:
    return _ENV.get_template("notice.html.j2").render(**values)
