"""The audit and the state store: a store without its schema stops the audit before any work, and
`ent-migrate status` shows the R19 deadline of an audit even when no migration ever ran."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import CliRunner, Result

from ent_migrate.cli.app import app
from ent_migrate.errors import SchemaOutdatedError
from ent_migrate.state.store import make_engine, upgrade
from tests.audit.conftest import PASSING_CLAUSES, Handback

runner = CliRunner()


def _audit(hb: Handback, url: str) -> Result:
    return runner.invoke(app, ["--state", url, "audit", "-c", str(hb.config), "--clauses", str(hb.clauses), "--json"])


def test_a_store_without_its_schema_stops_the_audit_before_any_report(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback()
    result = _audit(hb, f"sqlite:///{hb.root / 'new.db'}")
    assert isinstance(result.exception, SchemaOutdatedError)
    assert "db upgrade" in str(result.exception)
    assert not (hb.root / "reports" / "audit").exists()  # no report the store then refused to record


def test_status_without_a_run_shows_the_destruction_deadline(make_handback: Callable[..., Handback]) -> None:
    hb = make_handback()
    hb.write_clauses(PASSING_CLAUSES.replace("destroyed = 2026-11-30\n", ""))
    url = f"sqlite:///{hb.root / 'state.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    assert _audit(hb, url).exit_code == 1  # R19 not met: no destruction date
    status = runner.invoke(app, ["--state", url, "status", "--json"])
    assert status.exit_code == 0, status.output
    out = json.loads(status.stdout)
    assert out["runs"] == 0
    assert out["audit"]["destruction_deadline"] == "2026-12-15"
    assert out["audit"]["destroyed"] is None
    shown = runner.invoke(app, ["--state", url, "status"])
    assert "destruction PV (R19) due 2026-12-15" in shown.stdout
