"""Small SDET-shaped districts (accounts, classes, links: what an LDAP directory carries) and the
ent-migrate config that runs one into an ``ldap`` target through the CLI."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from ent_migrate.model import (
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    Profile,
    Record,
    Structure,
)
from tests.servers.slapd import SlapdServer

__all__ = ["PASSWORD_ENV", "cli", "cli_env", "school", "write_config"]

UAI = "0350012Y"
PASSWORD_ENV = "ENT_MIGRATE_TEST_LDAP_PASSWORD"


def school(pupils: int) -> Iterator[Record]:
    """A collège: two classes and a group, pupils with one guardian each, a teacher with a function."""
    yield Structure(uai=UAI, name="Collège Anne de Bretagne", type="COLLEGE", jointure="AC-RENNES$2828", city="Rennes")
    yield Group(uai=UAI, code="5A", group_kind=GroupKind.CLASS, name="5e A", level="5e")
    yield Group(uai=UAI, code="5B", group_kind=GroupKind.CLASS, name="5e B", level="5e")
    yield Group(uai=UAI, code="LATIN", group_kind=GroupKind.GROUP, name="Latin")
    yield Person(
        id="AC-RENNES$t1",
        profile=Profile.TEACHER,
        last_name="Le Goff-Núñez",
        first_name="Anaïs",
        emails=("a.legoff@ac-rennes.example",),
        structures=(UAI,),
        civility="Mme",
    )
    yield Function(person_id="AC-RENNES$t1", uai=UAI, code="ENS", discipline="L0201", label="Lettres classiques")
    yield Membership(person_id="AC-RENNES$t1", uai=UAI, group_code="5A", subject="Français")
    for i in range(pupils):
        pid, gid = f"AC-RENNES$p{i}", f"AC-RENNES$g{i}"
        yield Person(
            id=pid,
            profile=Profile.STUDENT,
            last_name="N'Diaye",
            first_name=f"Élève{i}",
            birth_date=dt.date(2012, 1 + i % 12, 1 + i % 28),
            ine=f"{i:010d}A",
            structures=(UAI,),
        )
        yield Person(id=gid, profile=Profile.GUARDIAN, last_name="N'Diaye", first_name=f"Parent{i}", structures=(UAI,))
        yield Membership(person_id=pid, uai=UAI, group_code="5A" if i % 2 else "5B")
        if i % 5 == 0:
            yield Membership(person_id=pid, uai=UAI, group_code="LATIN")
        yield Guardianship(guardian_id=gid, student_id=pid, legal_level=1, kinship="10")


def cli_env(server: SlapdServer) -> dict[str, str]:
    return {**os.environ, "CI": "1", PASSWORD_ENV: server.password, "ENT_MIGRATE_PSEUDONYM_KEY": secrets.token_hex(32)}


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=timeout,
    )


def write_config(tmp_path: Path, server: SlapdServer, base: str, source_file: Path, **target: object) -> Path:
    """A config: persisted memory source → ldap target over LDAPS, the password from the environment."""
    extra = "".join(f"{key} = {_toml(value)}\n" for key, value in target.items())
    path = tmp_path / "ent-migrate.toml"
    path.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[source.a]\nspec = "memory:src"\npersist = "{source_file}"\n'
        f'[target.b]\nspec = "ldap:{server.url(base)}"\nbind_dn = "{server.admin_dn}"\n'
        f'bind_password = "${{{PASSWORD_ENV}}}"\nca_file = "{server.ca_file}"\n{extra}'
        "[run]\nconcurrency = 4\n"
        '[privacy]\nkey = "${ENT_MIGRATE_PSEUDONYM_KEY}"\n[report]\ndir = "reports"\n',
        encoding="utf-8",
    )
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return f'"{value}"'
