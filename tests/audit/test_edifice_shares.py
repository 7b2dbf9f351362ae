"""R13 over Edifice archives: every user a document is shared with must be an account the hand-back
delivers; a share to a user the hand-back does not hold fails the clause, named by pseudonym."""

from __future__ import annotations

from pathlib import Path

from ent_migrate.connectors.edifice_archive.writer import Losses
from tests.audit import test_edifice
from tests.audit.test_edifice import _audit

vendor_key = test_edifice.vendor_key  # the vendor key pair, one per session, shared with test_edifice

SHARE_CLAUSES = """\
[contract]
modules = ["workspace"]
[clauses]
promised = ["R13"]
"""


def test_shares_to_users_of_the_handback_resolve(tmp_path: Path, vendor_key: tuple[Path, Path]) -> None:
    code, clauses = _audit(tmp_path, vendor_key, None, SHARE_CLAUSES)
    r13 = clauses["R13"]
    assert r13["verdict"] == "conforme", r13
    assert r13["evidence"]["partages"] > 0
    assert r13["evidence"]["beneficiaires_utilisateurs"] == r13["evidence"]["partages"]
    assert r13["evidence"]["non_resolus"] == 0
    assert code == 0


def test_a_share_to_a_user_the_handback_lacks_fails_r13(tmp_path: Path, vendor_key: tuple[Path, Path]) -> None:
    code, clauses = _audit(tmp_path, vendor_key, Losses(dangling_share=True), SHARE_CLAUSES)
    r13 = clauses["R13"]
    assert r13["verdict"] == "partiel"
    # the lost user is shared each of the first archive's documents: one principal per document
    assert r13["evidence"]["non_resolus"] >= 1
    assert len(r13["failing"]) == 1  # one user, listed once, by pseudonym
    assert r13["failing"][0].startswith("p:")
    assert code == 1
