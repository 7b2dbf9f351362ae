"""``ent-migrate connectors list|about|check``."""

from __future__ import annotations

import json
import tomllib
from typing import Annotated, Any

import typer
from rich.table import Table

from ent_migrate.cli._common import EXIT_OK, EXIT_UNREACHABLE, console, emit
from ent_migrate.cli.app import app
from ent_migrate.config import check_spec_secrets
from ent_migrate.contract import Capability, Role
from ent_migrate.errors import ConfigError, EntMigrateError, SpecError
from ent_migrate.options import describe_options
from ent_migrate.registry import ConnectorInfo, connector_class, load_registry, open_connector, parse_spec

__all__: list[str] = []

connectors_app = typer.Typer(help="List, describe and check connectors.", no_args_is_help=True)
app.add_typer(connectors_app, name="connectors")

JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Machine-readable output.")]


def _describe(info: ConnectorInfo) -> dict[str, Any]:
    cls = info.cls
    return {
        "name": info.name,
        "summary": cls.summary,
        "roles": sorted(str(r) for r in cls.roles),
        "capabilities": sorted(str(c) for c in cls.capabilities),
        "location": cls.location_help,
        "distribution": info.distribution,
        "entry_point": info.value,
    }


@connectors_app.command("list")
def list_connectors(as_json: JsonOpt = False) -> None:
    """List the registered connectors, their roles and capabilities."""
    rows = [_describe(info) for info in load_registry().values()]

    def render() -> None:
        table = Table("name", "roles", "capabilities", "summary")
        for row in rows:
            table.add_row(row["name"], ", ".join(row["roles"]), ", ".join(row["capabilities"]), row["summary"])
        console.print(table)

    emit({"connectors": rows}, as_json, render)


@connectors_app.command("about")
def about(name: str, as_json: JsonOpt = False) -> None:
    """Describe one connector: roles, capabilities, how to write its location, its options."""
    connector_class(name)  # raises a clear SpecError for an unknown name
    info = load_registry()[name]
    data = _describe(info)
    data["options"] = [
        {"name": o.name, "type": o.type, "default": o.default, "help": o.help}
        for o in describe_options(info.cls.Options)
    ]
    extra = getattr(info.cls, "about", None)
    if callable(extra):  # e.g. rest lists its vendor profiles
        data["more"] = extra()

    def render() -> None:
        console.print(f"[bold]{name}[/] — {data['summary']}", highlight=False)
        console.print(f"roles: {', '.join(data['roles'])}", highlight=False)
        console.print(f"capabilities: {', '.join(data['capabilities'])}", highlight=False)
        console.print(f"location: {data['location']}", highlight=False, markup=False)
        if data["options"]:
            table = Table("option", "type", "default", "what it does", title="options ([source.NAME] / [target.NAME])")
            for o in data["options"]:
                default = "" if o["default"] is None else json.dumps(o["default"], ensure_ascii=False)
                table.add_row(o["name"], o["type"], default, o["help"])
            console.print(table)
        else:
            console.print("options: none")
        if data.get("more"):
            console.print(str(data["more"]), markup=False, highlight=False)

    emit(data, as_json, render)


OptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        help="An option as key=value (TOML value: -o page_size=500 -o insecure=true).",
        metavar="KEY=VALUE",
    ),
]


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-o {pair!r}: write KEY=VALUE")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is a string
        out[key.strip()] = value
    return out


@connectors_app.command("check")
def check(spec: str, option: OptionOpt = None, as_json: JsonOpt = False) -> None:
    """Check a connector spec: reachability, credentials, capabilities.

    Options come from the config file's section using this spec, then -o KEY=VALUE. A missing or bad
    option is a usage error (exit 2); only a source or target that cannot be reached gives exit 3.
    """
    # Before anything echoes it: the spec is printed in the result, and a password typed in it would be
    # too (as a section's spec is refused before it reaches the runs and the reports).
    check_spec_secrets(spec, "connectors check: the spec")
    name, _ = parse_spec(spec)
    cls = connector_class(name)
    result: dict[str, Any] = {"spec": spec, "name": name, "roles": sorted(str(r) for r in cls.roles)}
    # Outside the try: a bad config or option is a usage error (2), not "unreachable" (3).
    options = {**_options_for(spec), **_parse_options(option or [])}
    connector = open_connector(spec, options, where=f"connectors check {spec}")
    try:
        outcome = connector.check()
        result.update(reachable=outcome.reachable, authenticated=outcome.authenticated, detail=outcome.detail)
    except (ConfigError, SpecError):
        raise
    except EntMigrateError as exc:
        result.update(reachable=False, authenticated=None, detail=str(exc))
    finally:
        connector.close()
    result["capabilities"] = {str(c): c in cls.capabilities for c in Capability}
    code = EXIT_OK if result["reachable"] and result["authenticated"] is not False else EXIT_UNREACHABLE

    def render() -> None:
        mark = "[green]ok[/]" if code == EXIT_OK else "[red]unreachable[/]"
        console.print(f"{spec}: {mark} {result['detail']}", highlight=False)
        console.print("capabilities: " + ", ".join(c for c, ok in result["capabilities"].items() if ok))
        if Role.TARGET in cls.roles:
            console.print("can be a target")

    emit(result, as_json, render)
    raise typer.Exit(code)


def _options_for(spec: str) -> dict[str, Any]:
    """Options for *spec* from the config file when a [source.*]/[target.*] section uses it."""
    from ent_migrate.cli._common import settings

    for role in ("source", "target"):
        for table in settings.config.section(role).values():
            if isinstance(table, dict) and table.get("spec") == spec:
                return {k: v for k, v in table.items() if k != "spec"}
    return {}
