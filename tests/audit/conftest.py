"""Hand-backs built from the generated district: one that passes every clause, and faulty variants."""

from __future__ import annotations

import dataclasses
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ent_migrate.audit.signing import generate_key
from ent_migrate.connectors.package.fixture import write_package
from ent_migrate.fixtures._output import write_district
from ent_migrate.fixtures.generator import iter_records
from ent_migrate.model import Record

ACCOUNTS, SEED = 120, 7

Items = Iterator[tuple[Record, bytes | None]]
Edit = Callable[[Items], Items]

PASSING_CLAUSES = """\
[contract]
end = 2026-08-31
delivery = 2026-09-15
delivery_delay_days = 30
retrieval_window_days = 30
modules = ["structures", "accounts", "relations", "mail", "workspace"]

[clauses]
promised = ["R01", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R14", "R15", "R16", "R19"]

[reference]
sources = ["aaf1d", "aaf2d"]

[destruction]
returned = 2026-09-15
pv = "pv.pdf"
destroyed = 2026-11-30

[signature]
key_file = "controller.key"
"""


@dataclasses.dataclass
class Handback:
    root: Path
    config: Path
    clauses: Path
    public_key: Path

    def write_clauses(self, text: str) -> Path:
        self.clauses.write_text(text, encoding="utf-8")
        return self.clauses


@pytest.fixture(scope="session")
def academie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The académie AAF feeds of the district (the reference R04/R05 count against), written once."""
    out = tmp_path_factory.mktemp("aaf")
    write_district(["aaf"], ACCOUNTS, SEED, out)
    return out


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    generate_key(folder / "controller.key", folder / "controller.pub")
    return folder / "controller.key", folder / "controller.pub"


@pytest.fixture
def make_handback(tmp_path: Path, academie: Path, keys: tuple[Path, Path]) -> Callable[..., Handback]:
    """``make_handback(edit=...)``: the district as a package (records passed through *edit*), with
    the AAF reference, a destruction PV, a pseudonym key and the controller's signing key."""

    def make(edit: Edit = lambda items: items, extra_sources: str = "") -> Handback:
        write_package(edit(iter_records(ACCOUNTS, SEED)), tmp_path / "pkg")
        (tmp_path / "pkey").write_text(secrets.token_hex(16), encoding="ascii")
        (tmp_path / "pkey").chmod(0o600)  # a pseudonym key others can read is refused
        (tmp_path / "pv.pdf").write_bytes(b"%PDF-1.4 proces-verbal de destruction\n")
        shutil.copy(keys[0], tmp_path / "controller.key")
        config = tmp_path / "migration.toml"
        config.write_text(
            f'[privacy]\nkey_file = "pkey"\n\n[report]\ndir = "reports"\n\n'
            f'[source.handback]\nspec = "package:pkg"\n\n'
            f'[source.aaf1d]\nspec = "aaf:{academie / "1D"}"\n\n[source.aaf2d]\nspec = "aaf:{academie / "2D"}"\n'
            + extra_sources,
            encoding="utf-8",
        )
        clauses = tmp_path / "cctp.toml"
        clauses.write_text(PASSING_CLAUSES, encoding="utf-8")
        return Handback(tmp_path, config, clauses, keys[1])

    return make
