"""``ent-migrate inspect SPEC``: read a source once, count what it holds, list the problems found.

Generic over every source connector: it reads each data capability the connector declares, counts the
canonical records and collects ``connector.problems``. No state store is needed.

``--json`` prints exactly::

    {"counts": {"structures", "students", "guardians", "staff", "classes", "groups",
                "guardianships", "memberships", "functions"},
     "problems": [{"code", "severity", "count", "examples": ["file:line", ...], "details"?: [...]}]}

where ``details`` (present when the connector gave any) says which field is missing or which reference
dangles, as plan's report does — never a name or a value.

(teachers count in ``staff``). ``--records`` prints the canonical records as JSON Lines on stdout and
moves the summary to stderr. ``--expect-uai`` is passed to the connector as option ``expect_uai``.
Exit 0 when clean, 1 when problems were found, 2 on a usage or configuration error.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ent_migrate.cli._common import EXIT_DIFFERENCES, EXIT_OK, err_console, settings
from ent_migrate.cli.app import app
from ent_migrate.contract import DATA_CAPABILITIES, Capability, Role
from ent_migrate.errors import ConfigError, InputError
from ent_migrate.model import Function, Group, GroupKind, Guardianship, Membership, Person, Profile, Record, Structure
from ent_migrate.registry import connector_class, open_connector, parse_spec

__all__ = ["COUNT_KEYS", "count_record", "inspect_source"]

COUNT_KEYS = (
    "structures",
    "students",
    "guardians",
    "staff",
    "classes",
    "groups",
    "guardianships",
    "memberships",
    "functions",
)
_PROFILE_KEYS = {
    Profile.STUDENT: "students",
    Profile.GUARDIAN: "guardians",
    Profile.TEACHER: "staff",
    Profile.STAFF: "staff",
}


def count_record(counts: dict[str, int], record: Record) -> None:
    """Add *record* to the inspect counts (mail and documents are read but not counted)."""
    key: str | None = None
    if isinstance(record, Structure):
        key = "structures"
    elif isinstance(record, Person):
        key = _PROFILE_KEYS[record.profile]
    elif isinstance(record, Group):
        key = "classes" if record.group_kind is GroupKind.CLASS else "groups"
    elif isinstance(record, Guardianship):
        key = "guardianships"
    elif isinstance(record, Membership):
        key = "memberships"
    elif isinstance(record, Function):
        key = "functions"
    if key is not None:
        counts[key] += 1


def _options_for(spec: str) -> dict[str, Any]:
    """Options of the ``[source.*]`` section whose ``spec`` is *spec*, if the config has one."""
    if settings.config_path is None:
        return {}
    for table in settings.config.section("source").values():
        if isinstance(table, Mapping) and table.get("spec") == spec:
            return {str(k): v for k, v in table.items() if k != "spec"}
    return {}


def inspect_source(
    spec: str, options: Mapping[str, Any] | None = None, records_out: Any | None = None
) -> dict[str, Any]:
    """Read every declared data capability of the source *spec*; return the ``--json`` document.

    *records_out*, when given, receives each canonical record as one JSON line.
    """
    name, _location = parse_spec(spec)
    cls = connector_class(name)
    if Role.SOURCE not in cls.roles and Capability.READ_BACK not in cls.capabilities:
        raise ConfigError(f"connector {name!r} cannot be read (it is not a source)")
    counts = dict.fromkeys(COUNT_KEYS, 0)
    with open_connector(spec, options) as connector:
        for capability in DATA_CAPABILITIES:
            if capability not in cls.capabilities:
                continue
            try:
                for record in connector.read(capability):
                    count_record(counts, record)
                    if records_out is not None:
                        records_out.write(json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
            except OSError as exc:  # a file vanished or cannot be read: say which, never a traceback
                raise InputError(
                    f"cannot read ({exc.strerror or type(exc).__name__})", where=getattr(exc, "filename", None) or spec
                ) from None
        problems = connector.problems.to_list()  # with "details", as plan's report keeps them
    return {"counts": counts, "problems": problems}


def _render(summary: Mapping[str, Any], console: Console) -> None:
    table = Table("what", "count")
    for key in COUNT_KEYS:
        table.add_row(key, str(summary["counts"][key]))
    console.print(table)
    if not summary["problems"]:
        console.print("[green]no problems[/]")
        return
    problems = Table("code", "severity", "count", "examples", "details")
    for problem in summary["problems"]:
        problems.add_row(
            problem["code"],
            problem["severity"],
            str(problem["count"]),
            escape(", ".join(problem["examples"])),  # a place or detail is text, never rich markup
            escape("; ".join(problem.get("details", []))),
        )
    console.print(problems)


@app.command("inspect")
def inspect(
    spec: Annotated[str, typer.Argument(help="Source connector spec, e.g. aaf:/data/ENT2D.20240916.tgz")],
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Machine-readable summary.")] = False,
    records: Annotated[
        bool, typer.Option("--records", metavar="", help="Print canonical records as JSON Lines.")
    ] = False,
    expect_uai: Annotated[
        str | None, typer.Option("--expect-uai", help="The UAI the export must be for (connector option expect_uai).")
    ] = None,
) -> None:
    """Read a source, count its records and list the problems found (exit 1 when there are any)."""
    options = _options_for(spec)
    if expect_uai:
        cls = connector_class(parse_spec(spec)[0])
        if "expect_uai" not in {f.name for f in dataclasses.fields(cls.Options)}:
            raise ConfigError(f"--expect-uai: the {cls.name} connector has no expect_uai option")
        options["expect_uai"] = expect_uai
    summary = inspect_source(spec, options, sys.stdout if records else None)
    if records:  # stdout carries the records: the summary goes to stderr
        if as_json:
            sys.stderr.write(json.dumps(summary, ensure_ascii=False, sort_keys=True) + "\n")
        else:
            _render(summary, err_console)
    elif as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    else:
        from ent_migrate.cli._common import console

        _render(summary, console)
    sys.stdout.flush()
    raise typer.Exit(EXIT_DIFFERENCES if summary["problems"] else EXIT_OK)
