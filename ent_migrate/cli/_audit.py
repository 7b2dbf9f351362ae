"""``ent-migrate audit``: the CCTP reversibility audit of a hand-back, clause by clause, signed.

``ent-migrate audit -c migration.toml --clauses cctp.toml [--json] [--out DIR] [--signing-key KEY]``
reads every ``[source.*]`` of the configuration (those named in the clause file's ``[reference]
sources`` are the académie files counts are compared against), checks R01–R19 and writes
``audit-report.{json,csv,html}``, ``SHA256SUMS`` and, with a key, ``SHA256SUMS.sig``.
Exit 0 when every promised clause is conforme, 1 otherwise, 2 on a usage error, 3 unreachable.

``ent-migrate audit verify-signature DIR --public-key controller.pub`` checks a report's signature
and its SHA256SUMS; ``ent-migrate audit keygen controller.key controller.pub`` makes a key pair.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ent_migrate.audit.clauses import load_clauses
from ent_migrate.audit.report import write_audit_report
from ent_migrate.audit.run import run_audit
from ent_migrate.audit.signing import SIGNATURE_NAME, generate_key, verify_file
from ent_migrate.cli._common import EXIT_DIFFERENCES, EXIT_OK, ConfigOpt, console, emit, open_state, settings
from ent_migrate.cli.app import app
from ent_migrate.errors import ConfigError
from ent_migrate.pipeline.context import pseudonymizer_from_config, report_dir_from_config
from ent_migrate.report.writers import SUMS_NAME, SumsMismatchError, check_sums

__all__ = ["audit_app", "verify_report"]

audit_app = typer.Typer(
    name="audit",
    help="Audit a vendor's hand-back against the CCTP clauses R01–R19 and sign the report.",
    no_args_is_help=False,
)
app.add_typer(audit_app)


@audit_app.callback(invoke_without_command=True)
def _audit(
    ctx: typer.Context,
    config: ConfigOpt = None,
    clauses: Annotated[
        Path | None, typer.Option("--clauses", help="The clause file (TOML): promised clauses, dates, scope.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default: \\[report] dir / audit).")] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            "--signing-key", help="The controller's Ed25519 private key (PEM); overrides \\[signature] key_file."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print the report as JSON on stdout.")] = False,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if clauses is None:
        raise ConfigError("ent-migrate audit needs --clauses FILE (see docs/cctp.example.toml)")
    spec = load_clauses(clauses)
    cfg = settings.config
    pseudo = pseudonymizer_from_config(cfg)
    key_path = signing_key or spec.signing_key
    if key_path is not None:
        # Checked before the audit, not after its report was written: a key others can read, or one
        # that is not an Ed25519 PEM, stops the command before any work.
        from ent_migrate.audit.signing import load_private_key

        load_private_key(key_path)
    # With a state store, the audit is recorded: `ent-migrate status` then tracks the R19 deadline.
    # It is opened first, so that a store without its schema stops the audit before any work, not
    # after a report was written that the store then refuses to record.
    with_store = settings.state_url or cfg.section("state").get("url") or os.environ.get("ENT_MIGRATE_STATE")
    engine = open_state() if with_store else None
    try:
        result = run_audit(cfg, spec, pseudo, pseudo.key_id)
        folder = out or report_dir_from_config(cfg) / "audit"
        paths = write_audit_report(result, folder, key_path)
        if engine is not None:
            from ent_migrate.audit.state import record_audit

            record_audit(engine, result, folder)
    finally:
        if engine is not None:
            engine.dispose()
    document = result.to_dict()

    def render() -> None:
        table = Table(title="Audit de réversibilité (R01–R19)")
        for column in ("Clause", "Promis", "Verdict", "Motif"):
            table.add_column(column)
        for c in result.clauses:
            mark = "" if c.met else " ✗"
            table.add_row(c.clause, "oui" if c.promised else "non", f"{c.verdict}{mark}", c.why)
        console.print(table)
        console.print(f"report: {folder} ({len(paths)} files)", highlight=False)
        if result.deadline:
            console.print(f"destruction deadline (return + 3 months): {result.deadline.isoformat()}")

    emit(document, as_json, render)
    raise typer.Exit(EXIT_DIFFERENCES if result.unmet else EXIT_OK)


def verify_report(folder: Path, public_key: Path) -> str:
    """Check ``SHA256SUMS.sig`` under *public_key*, then every file SHA256SUMS names. Returns the key id."""
    sums = folder / SUMS_NAME
    key_id = verify_file(sums, folder / SIGNATURE_NAME, public_key)
    try:
        check_sums(folder, sums.read_text(encoding="ascii"))
    except SumsMismatchError as exc:
        raise ConfigError(f"{exc} after the report was signed" if exc.changed else str(exc)) from None
    return key_id


@audit_app.command("verify-signature")
def _verify_signature(
    folder: Annotated[Path, typer.Argument(help="The audit report folder (holds SHA256SUMS and its .sig).")],
    public_key: Annotated[Path, typer.Option("--public-key", help="The controller's Ed25519 public key (PEM).")],
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="JSON on stdout.")] = False,
) -> None:
    """Check the controller's signature of SHA256SUMS and the hash of every report file."""
    key_id = verify_report(folder, public_key)
    emit({"valid": True, "key_id": key_id}, as_json, lambda: console.print(f"signature valid (key {key_id})"))


@audit_app.command("keygen")
def _keygen(
    private: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600; must not exist).")],
    public: Annotated[Path, typer.Argument(help="Where to write the public key (PEM).")],
) -> None:
    """Make an Ed25519 key pair for the controller (keep the private key with the controller)."""
    if private.exists():
        raise ConfigError(f"{private}: already exists; never overwrite a signing key")
    key_id = generate_key(private, public)
    console.print(f"key {key_id} written", highlight=False)
