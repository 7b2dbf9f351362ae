"""``ent-migrate connectors list|about|check``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ent_migrate.cli._common import EXIT_OK, EXIT_UNREACHABLE, console, emit
from ent_migrate.cli.app import app
from ent_migrate.contract import Capability, Role
from ent_migrate.errors import EntMigrateError
from ent_migrate.registry import ConnectorInfo, connector_class, load_registry, open_connector, parse_spec

__all__: list[str] = []

connectors_app = typer.Typer(help="List, describe and check connectors.", no_args_is_help=True)
app.add_typer(connectors_app, name="connectors")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


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
    data["doc"] = (info.cls.__doc__ or "").strip() or (
        __import__(info.cls.__module__, fromlist=["_"]).__doc__ or ""
    ).strip()

    def render() -> None:
        console.print(f"[bold]{name}[/] — {data['summary']}")
        console.print(f"roles: {', '.join(data['roles'])}")
        console.print(f"capabilities: {', '.join(data['capabilities'])}")
        console.print(f"location: {data['location']}")
        if data["doc"]:
            console.print(data["doc"], markup=False, highlight=False)

    emit(data, as_json, render)


@connectors_app.command("check")
def check(spec: str, as_json: JsonOpt = False) -> None:
    """Check a connector spec: reachability, credentials, capabilities."""
    name, _ = parse_spec(spec)
    cls = connector_class(name)
    result: dict[str, Any] = {"spec": spec, "name": name, "roles": sorted(str(r) for r in cls.roles)}
    options = _options_for(spec)  # outside the try: a bad config file is a usage error (2), not "unreachable"
    try:
        with open_connector(spec, options) as connector:
            outcome = connector.check()
        result.update(reachable=outcome.reachable, authenticated=outcome.authenticated, detail=outcome.detail)
    except EntMigrateError as exc:
        result.update(reachable=False, authenticated=None, detail=str(exc))
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
