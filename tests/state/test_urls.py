"""Where the state store lives: --state > $ENT_MIGRATE_STATE > config [state] url > ./ent-migrate.db."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from ent_migrate.config import Config, load_config
from ent_migrate.errors import ConfigError
from ent_migrate.state import STATE_ENV, make_engine, mask_url, resolve_state_url


@pytest.fixture
def config_file(tmp_path: Path) -> Config:
    path = tmp_path / "conf" / "ent-migrate.toml"
    path.parent.mkdir()
    path.write_text('[state]\nurl = "data/from-config.db"\n')
    return load_config(path)


def test_precedence_flag_env_config_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_file: Config
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(STATE_ENV, "sqlite:///from-env.db")
    assert resolve_state_url("flag.db", config_file) == f"sqlite:///{tmp_path / 'flag.db'}"
    assert resolve_state_url(None, config_file) == f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.delenv(STATE_ENV)
    # A relative path in a config file is relative to that file, like connector locations.
    assert resolve_state_url(None, config_file) == f"sqlite:///{tmp_path / 'conf' / 'data' / 'from-config.db'}"
    assert resolve_state_url(None, Config(None, {})) == f"sqlite:///{tmp_path / 'ent-migrate.db'}"


def test_postgresql_gets_psycopg3_and_sqlite_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_ENV, raising=False)
    empty = Config(None, {})
    assert resolve_state_url("postgresql://u@db.example/ent", empty) == "postgresql+psycopg://u@db.example/ent"
    assert resolve_state_url("postgres://u@h/ent", empty) == "postgresql+psycopg://u@h/ent"
    assert resolve_state_url("postgresql+psycopg://u@h:5433/ent", empty) == "postgresql+psycopg://u@h:5433/ent"
    assert resolve_state_url(f"sqlite:///{tmp_path}/a.db", empty) == f"sqlite:///{tmp_path}/a.db"


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "oracle://x/y", "::nonsense://"])
def test_unsupported_or_invalid_urls_are_config_errors(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_ENV, raising=False)
    with pytest.raises(ConfigError, match="--state"):
        resolve_state_url(bad, Config(None, {}))


def test_config_url_must_be_a_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_ENV, raising=False)
    path = tmp_path / "c.toml"
    path.write_text("[state]\nurl = 3\n")
    with pytest.raises(ConfigError, match=r"c\.toml: \[state\] url"):
        resolve_state_url(None, load_config(path))


@given(password=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=4))
def test_mask_url_never_shows_the_password(password: str) -> None:
    url = URL.create("postgresql+psycopg", username="ent", password=password, host="127.0.0.1", database="s")
    masked = mask_url(url.render_as_string(hide_password=False))
    assert masked == "postgresql+psycopg://ent:***@127.0.0.1/s"


def test_sqlite_file_private_and_wal(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask must not leak into the state file's mode
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'deeper' / 's.db'}")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert busy_timeout is not None
            assert busy_timeout > 0
            # issue 15: a checkpoint every 40 MB of WAL, not 4 MB; a 16 MB page cache, not 2 MB
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -16_384
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.commit()
        engine.dispose()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "deeper" / "s.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new" / "deeper").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    os.chmod(shared, 0o750)  # noqa: S103 - a folder the user chose to share; it must stay as it is
    make_engine(f"sqlite:///{shared / 's.db'}").dispose()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o750  # we only tighten what we create
    assert stat.S_IMODE((shared / "s.db").stat().st_mode) == 0o600
