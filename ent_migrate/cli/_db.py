"""``ent-migrate db upgrade|downgrade|current|check``: the state store's schema revision.

Every command prints the same shape (``--json``): ``{"url", "current", "head", "up_to_date", "differences"}``
with the URL's password masked. ``check`` exits 1 when the store is not at the head revision or its schema
differs from the models.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ent_migrate.cli._common import EXIT_DIFFERENCES, EXIT_OK, EXIT_USAGE, ConfigOpt, console, emit, settings
from ent_migrate.cli.app import app
from ent_migrate.errors import ConfigError
from ent_migrate.state.store import (
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    mask_url,
    resolve_state_url,
    schema_diff,
    upgrade,
)

__all__: list[str] = []

db_app = typer.Typer(help="Create, upgrade and check the state store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Machine-readable output.")]


def _url() -> str:
    return resolve_state_url(settings.state_url, settings.config)


def _status(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        current = current_revision(engine)
        head = head_revision()
        differences = schema_diff(engine)
    finally:
        engine.dispose()
    return {
        "url": mask_url(url),
        "current": current,
        "head": head,
        "up_to_date": current == head,
        "differences": differences,
    }


def _show(status: dict[str, Any], as_json: bool, headline: str) -> None:
    def render() -> None:
        mark = "[green]up to date[/]" if status["up_to_date"] else "[yellow]not at head[/]"
        console.print(headline, highlight=False, markup=False, soft_wrap=True)  # a command stays copyable
        console.print(f"store: {status['url']}", highlight=False, markup=False, soft_wrap=True)
        console.print(
            f"revision: {status['current'] or 'none (empty)'} · head: {status['head']} · {mark}", highlight=False
        )
        for line in status["differences"]:
            console.print(f"  differs: {line}", highlight=False, markup=False)

    emit(status, as_json, render)


@db_app.command("upgrade")
def upgrade_command(
    revision: Annotated[str, typer.Option("--revision", "-r", help="Target revision (default: head).")] = "head",
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Create the schema or bring it up to REVISION (default: the head)."""
    url = _url()
    upgrade(url, revision)
    _show(_status(url), as_json, f"upgraded to {revision}")


@db_app.command("downgrade")
def downgrade_command(
    revision: Annotated[str, typer.Argument(help="Revision to go back to ('base' drops every table).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", metavar="", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool, typer.Option("--force", metavar="", help="Drop the id/login map too (logins are lost for good).")
    ] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Undo revisions down to REVISION. To 'base' it drops every table: it asks first, and refuses while
    the store holds an id/login map (the logins people were given) unless --force."""
    url = _url()
    if revision == "base":
        _guard_base(url, yes=yes, force=force)
    downgrade(url, revision)
    _show(_status(url), as_json, f"downgraded to {revision}")


def _guard_base(url: str, *, yes: bool, force: bool) -> None:
    from ent_migrate.state import StateStore

    engine = make_engine(url)
    try:
        mapped = StateStore(engine).identities.id_map_size() if current_revision(engine) else 0
    finally:
        engine.dispose()
    if mapped and not force:
        raise ConfigError(
            f"the store holds the id/login map of {mapped} people (the logins they were given): "
            "export it first; `db downgrade base --force` drops it for good"
        )
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError("db downgrade base drops every table: pass --yes to confirm without a terminal")
        if not typer.confirm("drop every table of the state store?", default=False, err=True):
            raise typer.Exit(EXIT_USAGE)


@db_app.command("current")
def current_command(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Show the store's revision and the head revision."""
    _show(_status(_url()), as_json, "state store revision")


@db_app.command("check")
def check_command(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Exit 1 when the store is not at the head revision or its schema differs from the models."""
    status = _status(_url())
    ok = status["up_to_date"] and not status["differences"]
    if ok:
        headline = "schema ok"
    elif status["current"] is None:
        headline = f"no schema: run ent-migrate --state {status['url']} db upgrade"
    elif not status["up_to_date"]:
        headline = f"not at head: run ent-migrate --state {status['url']} db upgrade"
    else:  # at head yet different: someone altered the tables by hand
        headline = "at head but the tables differ from the models (altered by hand?)"
    _show(status, as_json, headline)
    raise typer.Exit(EXIT_OK if ok else EXIT_DIFFERENCES)
