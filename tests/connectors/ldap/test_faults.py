"""Faults against a real slapd: the server stopped in the middle of an apply and started again.

The run is the CLI's (``ent-migrate run --yes`` in a subprocess); the test stops slapd by pid once part
of the district is in the directory, starts it again, runs again, and verify must mark every item "="
with each entry and each link value present exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import ldap
import pytest

from ent_migrate.connectors.ldap import LdapConnector
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.contract import Action, Operation
from ent_migrate.errors import TransientError
from ent_migrate.model import Person, Profile, RecordKind
from tests.connectors.ldap._data import cli, cli_env, school, write_config
from tests.pipeline._helpers import fill_persisted
from tests.servers.slapd import SlapdServer

PUPILS = 150


def _people(server: SlapdServer, base: str) -> list[tuple[str, dict[str, list[bytes]]]]:
    conn = server.admin()
    try:
        found = conn.search_s(f"ou=people,{base}", ldap.SCOPE_ONELEVEL, "(objectClass=ENTPerson)")
        assert isinstance(found, list)  # python-ldap is untyped
        return found
    except ldap.NO_SUCH_OBJECT:
        return []
    finally:
        conn.unbind_s()


def test_slapd_stopped_mid_apply_then_rerun_verifies_all_equal(private_slapd: SlapdServer, tmp_path: Path) -> None:
    server = private_slapd
    base = server.fresh_base("district")
    records = list(school(PUPILS))
    fill_persisted("src", tmp_path / "src.jsonl", ((r, None) for r in records))
    MemoryConnector.reset()
    config = write_config(tmp_path, server, base, tmp_path / "src.jsonl", reconnect_delay=0.1, reconnect_attempts=2)
    env = cli_env(server)
    assert cli(env, "-c", str(config), "db", "upgrade").returncode == 0

    # The run in the background; slapd is stopped once part of the district is in the directory (while
    # the run is still going), kept down for a second, and started again.
    run = subprocess.Popen(
        [sys.executable, "-m", "ent_migrate", "-c", str(config), "run", "--yes", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outage: dict[str, object] = {}
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        if len(_people(server, base)) >= 80:
            outage["mid_apply"] = run.poll() is None
            server.stop()
            time.sleep(1.0)
            server.start()
            break
        time.sleep(0.01)
    stdout, stderr = run.communicate(timeout=300)
    assert outage.get("mid_apply"), f"the run ended before the outage could happen: {stdout[-2000:]}"
    assert "Traceback" not in stderr
    if run.returncode == 0:  # the engine's retries (with our reconnections) rode out the outage
        assert json.loads(stdout)["apply"]["retries"] >= 1

    second = cli(env, "-c", str(config), "run", "--yes", "--json")
    assert second.returncode == 0, second.stderr[-3000:]
    verify = cli(env, "-c", str(config), "verify", "--json")
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-3000:]
    marks = json.loads(verify.stdout)["marks"]
    assert marks == {"=": len(records), "+": 0, "-": 0, "*": 0, "!": 0}

    # Nothing duplicated: one entry per person id, one value per link.
    people = _people(server, base)
    ids = [attrs["ENTPersonJointure"][0] for _, attrs in people]
    assert len(ids) == len(set(ids)) == 2 * PUPILS + 1
    for _, attrs in people:
        for name in ("ENTEleveClasses", "ENTEleveGroupes", "ENTElevePersRelEleve", "ENTAuxPersRelEleveEleve"):
            values = attrs.get(name, [])
            assert len(values) == len(set(values)), name
        if b"ENTEleve" in attrs["objectClass"]:
            assert len(attrs["ENTElevePersRelEleve"]) == 1


def test_lost_connection_is_transient_then_reconnects(private_slapd: SlapdServer) -> None:
    """A write while slapd is down raises TransientError (after the connector's own reconnect attempts);
    once slapd is back, the same operation goes through on a fresh connection."""
    server = private_slapd
    base = server.fresh_base("transient")
    person = Person(id="AC-RENNES$1", profile=Profile.GUARDIAN, last_name="Martin", first_name="Lou")
    op = Operation("op-1", Action.CREATE, RecordKind.PERSON, person.key, person)
    target = LdapConnector(server.url(base), server.options(reconnect_attempts=1, reconnect_delay=0.05))
    try:
        target.write(op, None)  # opens a connection and the index
        server.stop()
        with pytest.raises(TransientError, match="connection attempts"):
            target.write(op, None)
        server.start()
        target.write(op, None)
        assert target.pool.reconnects >= 1
        back = [r for r in target.read_accounts() if isinstance(r, Person)]
        assert back == [person]
    finally:
        target.close()
    assert target.pool.open_connections == 0
