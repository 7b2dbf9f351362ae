"""An SDET directory as a target that already holds accounts (the new ENT pre-filled by its vendor,
under its own ids and logins): the pipeline lands each source person on their entry, keeps its login,
and creates entries only for the people it does not hold."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ent_migrate.connectors.ldap import LdapConnector
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.contract import Action, Operation
from ent_migrate.model import Person, Profile, Record, Structure
from ent_migrate.pipeline import do_run
from tests.pipeline._helpers import context, fill
from tests.servers.slapd import SlapdServer

UAI = "0350012Y"
BORN = dt.date(2012, 3, 4)


def _people(server: SlapdServer, base: str) -> dict[str, Person]:
    with LdapConnector(server.url(base), server.options()) as directory:
        return {r.key: r for r in directory.read_accounts() if isinstance(r, Person)}


def test_people_the_directory_already_holds_keep_their_entries(
    slapd: SlapdServer, ldap_base: str, tmp_path: Path
) -> None:
    school = Structure(uai=UAI, name="Collège", type="COLLEGE")
    vendor: list[Record] = [
        school,
        Person(
            id="V100",
            profile=Profile.STUDENT,
            last_name="Dupont",
            first_name="Marie",
            birth_date=BORN,
            ine="1234567890A",
            login="mdupont",
            structures=(UAI,),
        ),
        Person(id="V200", profile=Profile.TEACHER, last_name="Roy", first_name="Paul", login="proy", structures=(UAI,)),
    ]
    with LdapConnector(slapd.url(ldap_base), slapd.options()) as directory:
        for record in vendor:
            directory.write(Operation(f"op-{record.key}", Action.CREATE, record.kind, record.key, record), None)
    source: list[Record] = [
        school,
        Person(
            id="s-1",
            profile=Profile.STUDENT,
            last_name="DUPONT",
            first_name="Marie",
            birth_date=BORN,
            ine="1234567890A",
            structures=(UAI,),
        ),
        Person(id="s-2", profile=Profile.STUDENT, last_name="Martin", first_name="Hugo", structures=(UAI,)),
    ]
    fill(MemoryConnector.named_store("src"), iter((r, None) for r in source))
    spec = f"ldap:{slapd.url(ldap_base)}"
    ctx = context(tmp_path, target=spec, target_options=slapd.options(), source_options={"partial": True})
    out = do_run(ctx)
    assert out["verify"]["verdict"] == "complete", out["verify"]
    people = _people(slapd, ldap_base)
    # Marie is on her entry (its login kept); Hugo, whom the directory did not hold, has a new one.
    assert sorted(people) == ["V100", "V200", "s-2"]
    assert people["V100"].login == "mdupont"
    assert "s-1" in people["V100"].source_ids
    assert people["s-2"].login == "hugo.martin"
    assert out["plan"]["identities"]["on_existing_accounts"] == 1
