"""The ``rest`` connector as a user meets it: a config file with ``${ENV}`` secrets, ``ent-migrate run`` to a
real SCIM server, ``connectors about rest``; and the small pure pieces (Retry-After, options)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ent_migrate.config import load_config
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.connectors.rest.client import parse_retry_after
from ent_migrate.errors import ConfigError
from ent_migrate.registry import open_connector
from tests.pipeline._helpers import district, fill_persisted
from tests.servers.scim import ScimServer

KEY = "c1c1" * 8  # a 128-bit test pseudonymisation key


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "1", **env},
        check=False,
        timeout=300,
    )


def test_run_migrates_to_a_scim_server_and_verifies(scim_server: ScimServer, tmp_path: Path) -> None:
    fill_persisted("src", tmp_path / "src.jsonl", district(pupils=6))
    MemoryConnector.reset()
    url = scim_server.url(f"cli{uuid.uuid4().hex[:12]}")
    config = tmp_path / "ent-migrate.toml"
    config.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[source.a]\nspec = "memory:src"\npersist = "{tmp_path / "src.jsonl"}"\n'
        f'[target.b]\nspec = "rest:{url}"\nprofile = "scim"\nauthentication = "bearer"\ntoken = "${{SCIM_TOKEN}}"\n'
        f'ca_file = "{scim_server.ca_file}"\nconcurrency = 4\n'
        '[privacy]\nkey = "${ENT_MIGRATE_PSEUDONYM_KEY}"\n[report]\ndir = "reports"\n'
    )
    env = {"SCIM_TOKEN": scim_server.token, "ENT_MIGRATE_PSEUDONYM_KEY": KEY}
    assert cli(env, "-c", str(config), "db", "upgrade").returncode == 0
    run = cli(env, "-c", str(config), "run", "--yes", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out["apply"]["failed"] == 0
    assert out["verify"]["marks"]["!"] == 0
    assert out["verify"]["marks"]["-"] == 0
    users = scim_server.get(url.rsplit("/", 2)[1], "/Users", count=0)["totalResults"]
    assert users == 6 * 2 + 1  # pupils, their guardians, the teacher
    again = cli(env, "-c", str(config), "run", "--yes", "--json")  # a second run: nothing left to write
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["apply"]["sent"] == 0
    # a literal secret in the file is refused before anything runs
    config.write_text(config.read_text().replace('"${SCIM_TOKEN}"', f'"{scim_server.token}"'))
    refused = cli(env, "-c", str(config), "plan")
    assert refused.returncode == 2
    assert "literal secret" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_connectors_about_lists_the_profiles() -> None:
    about = cli({}, "connectors", "about", "rest")
    assert about.returncode == 0, about.stderr
    for word in ("scim", "edifice", "profile", "ca_file", "requests_per_second"):
        assert word in about.stdout


def test_literal_secrets_are_refused_by_the_config_layer(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[target.b]\nspec = "rest:https://x/scim/v2"\nclient_secret = "hunter2"\n')
    with pytest.raises(ConfigError, match="literal secret"):
        load_config(path)


def test_bad_options_name_the_section() -> None:
    with pytest.raises(ConfigError, match=r"\[target\.b\] \(rest\): option concurrency must be 1 or more"):
        open_connector("rest:https://127.0.0.1:1/x", {"concurrency": 0}, where="[target.b]")
    with pytest.raises(ConfigError, match="authentication must be one of"):
        open_connector("rest:https://127.0.0.1:1/x", {"authentication": "kerberos"}, where="[target.b]")
    with pytest.raises(ConfigError, match="needs option oauth_url"):
        open_connector(
            "rest:https://127.0.0.1:1/x",
            {"authentication": "oauth2-client", "client_id": "a", "client_secret": "b"},
            where="[target.b]",
        )


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = dt.datetime(2026, 3, 2, 19, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Mon, 02 Mar 2026 19:01:30 GMT", now) == 90.0
    assert parse_retry_after("Mon, 02 Mar 2026 18:00:00 GMT", now) == 0.0  # in the past: at once
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after(" ", now) is None
