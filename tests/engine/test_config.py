"""The configuration file: ``${ENV}`` expansion, literal secrets refused, unknown sections refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ent_migrate.config import expand_env, is_secret_key, load_config
from ent_migrate.errors import ConfigError

SECRET = "S3cr3t-Do-Not-Print"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ent-migrate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_references_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_LDAP_HOST", "127.0.0.1")
    monkeypatch.setenv("KIT_LDAP_PASSWORD", SECRET)
    path = _write(
        tmp_path,
        """
[source.annuaire]
spec = "ldap://${KIT_LDAP_HOST}:1389/dc=kit"
bind_password = "${KIT_LDAP_PASSWORD}"
retries = 3
bases = ["ou=${KIT_LDAP_HOST}", "ou=b"]
""",
    )
    config = load_config(path)
    _name, spec, options, _where = config.endpoint("source")
    assert spec == "ldap://127.0.0.1:1389/dc=kit"
    assert options == {"bind_password": SECRET, "retries": 3, "bases": ["ou=127.0.0.1", "ou=b"]}


def test_a_literal_secret_is_refused_with_how_to_pass_it(tmp_path: Path) -> None:
    path = _write(tmp_path, f'[target.ent]\nspec = "scim://127.0.0.1:8080"\napi_token = "{SECRET}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert SECRET not in message
    assert str(path) in message
    assert "target.ent.api_token holds a literal secret" in message
    assert "export ENT_MIGRATE_TARGET_ENT_API_TOKEN=" in message
    assert 'api_token = "${ENT_MIGRATE_TARGET_ENT_API_TOKEN}"' in message


@pytest.mark.parametrize("key", ["password", "bind_password", "client_secret", "token", "key", "hmac_key", "apiKey"])
def test_secret_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["spec", "login_max_length", "keyboard_layout", "uai", "url"])
def test_ordinary_keys_are_not_secrets(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["public_key", "vendor_public_key", "publicKey", "key_file", "private_key_file", "signing_key_path"]
)
def test_public_keys_and_key_file_paths_are_not_secrets(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize("key", ["private_key", "signing_key", "api_key", "public_key_password", "publickey_secret"])
def test_private_keys_and_secrets_near_public_key_stay_secrets(key: str) -> None:
    assert is_secret_key(key)


def test_the_vendor_public_key_path_loads_as_written(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[source.handback]\nspec = "edifice-archive:/data/exports"\npublic_key = "/etc/ent-migrate/vendor.pem"\n'
        'signing_key_file = "/etc/ent-migrate/controller.pem"\n',
    )
    _name, _spec, options, _where = load_config(path).endpoint("source")
    assert options == {
        "public_key": "/etc/ent-migrate/vendor.pem",
        "signing_key_file": "/etc/ent-migrate/controller.pem",
    }


def test_a_private_key_pasted_where_its_path_goes_is_refused(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEI" + SECRET + "\\n-----END PRIVATE KEY-----"
    path = _write(tmp_path, f'[source.handback]\nspec = "memory:"\nsigning_key_file = "{pem}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "source.handback.signing_key_file holds a private key, not a path" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_secret_mixing_literal_and_reference_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_PART", "x")
    path = _write(tmp_path, '[privacy]\nkey = "prefix-${KIT_PART}"\n')
    with pytest.raises(ConfigError, match=r"privacy\.key holds a literal secret"):
        load_config(path)


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[sources.typo]\nspec = "memory:"\n[run]\nworkers = 2\n')
    with pytest.raises(ConfigError, match=r"unknown section\(s\) sources; known: state, source, target"):
        load_config(path)


def test_a_missing_env_var_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIT_SURELY_UNSET", raising=False)
    path = _write(tmp_path, '[state]\nurl = "postgresql+psycopg://u:${KIT_SURELY_UNSET}@127.0.0.1/x"\n')
    with pytest.raises(ConfigError, match=r"state.url: environment variable KIT_SURELY_UNSET is not set"):
        load_config(path)


def test_expand_env_names_the_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_A", "1")
    assert expand_env("${KIT_A}-${KIT_A}", "here") == "1-1"
    monkeypatch.delenv("KIT_B", raising=False)
    with pytest.raises(ConfigError, match=r"^here: environment variable KIT_B is not set$"):
        expand_env("${KIT_B}", "here")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"[state\n", "ent-migrate.toml"), (b"\xff\xfe[state]", "not UTF-8 text")],
)
def test_unreadable_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "ent-migrate.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(tmp_path / "absent.toml")


def test_relative_file_specs_are_relative_to_the_config(tmp_path: Path) -> None:
    path = _write(tmp_path, '[source.a]\nspec = "package:export"\n[target.m]\nspec = "memory:named"\n')
    config = load_config(path)
    assert config.endpoint("source")[1] == f"package:{tmp_path / 'export'}"
    assert config.endpoint("target", "m")[1] == "memory:named"
    with pytest.raises(ConfigError, match=r"no \[target.other\] section"):
        config.endpoint("target", "other")


def test_a_source_named_like_a_targets_own_accounts_is_refused(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[source."@b"]\nspec = "memory:x"\n'))
    with pytest.raises(ConfigError, match='may not start with "@"'):
        config.endpoint("source")
