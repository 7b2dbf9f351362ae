"""``ent-migrate fixtures generate``: a synthetic district in the format of any connector with a fixture writer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ent_migrate.cli._common import console, emit, progress
from ent_migrate.cli.app import app
from ent_migrate.errors import ConfigError

__all__: list[str] = []

fixtures_app = typer.Typer(help="Generate synthetic districts for tests, demos and benchmarks.", no_args_is_help=True)
app.add_typer(fixtures_app, name="fixtures")


@fixtures_app.command("generate")
def generate_command(
    accounts: Annotated[int, typer.Option("--accounts", "-n", min=1, help="Number of persons (accounts).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (created if needed).")],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same district, on any machine.")] = 0,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="A connector with a fixture writer (ent-migrate connectors list), or 'all': one folder each.",
        ),
    ] = "package",
    no_content: Annotated[
        bool, typer.Option("--no-content", metavar="", help="Accounts and relations only: no mail, no documents.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Machine-readable output.")] = False,
) -> None:
    """Generate a deterministic synthetic district (schools, pupils, guardians, staff, mail, documents).

    The same seed gives the same district on any machine; counts are those of the whole district.
    Layout under --out: package → the package itself; aaf → 1D/ and 2D/ feeds;
    siecle → one folder per collège UAI; onde → one folder per primary-school UAI; all → one folder per format.
    """
    # Imported here: the CLI must start fast, and the generator pulls in Faker's data tables.
    from ent_migrate.fixtures._output import FORMATS, passes, write_district

    # The choices are the registry's, not a list kept here: a connector that ships a fixture writer
    # (edifice-archive, a third party's) can be generated as soon as it is installed.
    fmt = fmt.lower()
    if fmt != "all" and fmt not in FORMATS:
        known = ", ".join([*FORMATS, "all"])
        message = f"{fmt!r} is not a format with a fixture writer (known: {known})"
        raise typer.BadParameter(message, param_hint="--format")
    formats = list(FORMATS) if fmt == "all" else [fmt]
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a directory", param_hint="--out")
    try:
        with progress("generating", total=accounts * passes(formats)) as advance:
            counts, files = write_district(formats, accounts, seed, out, content=not no_content, advance=advance)
    except OSError as exc:  # a full disk or a bad path is the user's to fix: a message, not a traceback
        raise ConfigError(f"cannot write the fixtures under {out}: {exc.strerror or exc}") from None
    result = {
        "accounts": accounts,
        "seed": seed,
        "formats": formats,
        "content": not no_content,
        "out": str(out),
        "counts": counts,
        "files": files,
    }

    def render() -> None:
        table = Table("kind", "records", title=f"district seed {seed} → {out} ({', '.join(formats)})")
        for kind, count in counts.items():
            table.add_row(kind, str(count))
        console.print(table)

    emit(result, as_json, render)
