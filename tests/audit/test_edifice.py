"""The audit over Edifice (ODE/entcore) user archives: signatures (R02), an app declared in the manifest
with an empty folder (R16), a resource pointing at a workspace file the archive lacks (R09, R10), the
messages of the Messagerie folder (R08) and a message linked to an attachment the archive lacks."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ent_migrate.cli.app import app
from ent_migrate.connectors.edifice_archive.writer import Losses, write_edifice_archives
from ent_migrate.fixtures.generator import iter_records
from tests.audit.conftest import ACCOUNTS, SEED
from tests.connectors.edifice_archive.keys import write_rsa_pair

runner = CliRunner()
CLAUSES = """\
[contract]
modules = ["workspace", "blog", "wiki", "pad", "calendar"]
[clauses]
promised = ["R02", "R09", "R10", "R11", "R12", "R16"]
"""
MAIL_CLAUSES = """\
[contract]
modules = ["workspace", "conversation"]
[clauses]
promised = ["R02", "R08", "R16"]
"""


@pytest.fixture(scope="session")
def vendor_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    _, private, public = write_rsa_pair(tmp_path_factory.mktemp("vendor"), "vendor")
    return private, public


def _audit(
    tmp_path: Path, vendor_key: tuple[Path, Path], losses: Losses | None, clauses: str = CLAUSES
) -> tuple[int, dict[str, Any]]:
    code, doc = _audit_doc(tmp_path, vendor_key, losses, clauses)
    return code, {c["clause"]: c for c in doc["clauses"]}


def _audit_doc(
    tmp_path: Path, vendor_key: tuple[Path, Path], losses: Losses | None, clauses: str
) -> tuple[int, dict[str, Any]]:
    write_edifice_archives(
        iter_records(ACCOUNTS, SEED), tmp_path / "archives", losses=losses, private_key=vendor_key[0]
    )
    (tmp_path / "pkey").write_text(secrets.token_hex(16), encoding="ascii")
    (tmp_path / "pkey").chmod(0o600)  # a pseudonym key others can read is refused
    config = tmp_path / "migration.toml"
    config.write_text(
        '[privacy]\nkey_file = "pkey"\n[source.edifice]\nspec = "edifice-archive:archives"\n'
        f'public_key = "{vendor_key[1]}"\n',  # a public key's path, written in clear: no secret
        encoding="utf-8",
    )
    (tmp_path / "cctp.toml").write_text(clauses, encoding="utf-8")
    result = runner.invoke(app, ["audit", "-c", str(config), "--clauses", str(tmp_path / "cctp.toml"), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, doc


def test_complete_signed_archives_meet_the_clauses(tmp_path: Path, vendor_key: tuple[Path, Path]) -> None:
    code, clauses = _audit(tmp_path, vendor_key, None)
    assert {n: c["verdict"] for n, c in clauses.items() if c["promised"] and not c["met"]} == {}
    assert code == 0
    assert clauses["R02"]["evidence"].get("valid", 0) > 0
    assert "invalid" not in clauses["R02"]["evidence"]


def test_known_losses_are_found_clause_by_clause(tmp_path: Path, vendor_key: tuple[Path, Path]) -> None:
    losses = Losses(empty_module="wiki", missing_file=True, tampered="pad")
    code, clauses = _audit(tmp_path, vendor_key, losses)
    assert code == 1
    assert clauses["R02"]["verdict"] == "non conforme"
    assert clauses["R02"]["evidence"]["invalid"] == 1
    assert all(f.startswith("p:") for f in clauses["R02"]["failing"])  # entries name the user: pseudonymised
    assert clauses["R16"]["verdict"] == "partiel"
    assert clauses["R16"]["evidence"]["sections_declarees_vides"] == 1
    assert clauses["R10"]["verdict"] == "partiel"
    assert clauses["R10"]["evidence"]["medias_absents"] == 1
    assert clauses["R09"]["verdict"] == "partiel"
    assert clauses["R09"]["evidence"]["references_sans_fichier"] == 1


def test_the_messages_of_the_archives_are_r08_evidence(tmp_path: Path, vendor_key: tuple[Path, Path]) -> None:
    code, clauses = _audit(tmp_path, vendor_key, None, MAIL_CLAUSES)
    r08 = clauses["R08"]
    assert (r08["verdict"], r08["delivered"]) == ("conforme", True)
    assert r08["evidence"]["messages"] > 0
    assert r08["evidence"]["dossiers"]["INBOX"] > 0
    assert r08["evidence"]["dossiers"]["Sent"] > 0
    assert (r08["evidence"]["illisibles"], r08["evidence"]["message_id_en_double"]) == (0, 0)
    assert clauses["R16"]["evidence"]["elements_par_module"]["conversation"] == r08["evidence"]["messages"]
    assert code == 0


def test_a_message_linked_to_an_absent_attachment_is_reported(tmp_path: Path, vendor_key: tuple[Path, Path]) -> None:
    _, doc = _audit_doc(tmp_path, vendor_key, Losses(missing_attachment=True), MAIL_CLAUSES)
    (source,) = [s for s in doc["sources"] if s["connector"] == "edifice-archive"]
    assert source["problems"] == {"ref.dangling": 1}
    r08 = next(c for c in doc["clauses"] if c["clause"] == "R08")
    assert r08["evidence"]["messages"] > 0  # the message itself is read, without the part it lost
    assert r08["evidence"]["pieces_jointes_absentes"] == 1  # ... and the lost part fails R08
    assert r08["verdict"] == "partiel"
    assert len(r08["failing"]) == 1
