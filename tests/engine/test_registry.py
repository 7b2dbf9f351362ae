"""The registry: capabilities checked both ways, duplicate names refused (with a real installed
distribution), connector specs parsed."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.contract import Capability, Connector, Role, implemented_capabilities
from ent_migrate.errors import RegistryError, SpecError
from ent_migrate.model import Group, Person, RecordKind, Structure
from ent_migrate.registry import (
    connector_class,
    load_registry,
    open_connector,
    parse_spec,
    validate_connector_class,
)


class _Declares(Connector):
    """Declares accounts and groups but only implements accounts."""

    name = "declares"
    roles = frozenset({Role.SOURCE})
    capabilities = frozenset({Capability.ACCOUNTS, Capability.GROUPS})

    def read_accounts(self) -> Iterator[Structure | Person]:
        yield from ()


class _Implements(Connector):
    """Implements groups (and delete) but declares only groups."""

    name = "implements"
    roles = frozenset({Role.SOURCE})
    capabilities = frozenset({Capability.GROUPS})

    def read_groups(self) -> Iterator[Group]:
        yield from ()

    def delete(self, kind: RecordKind, key: str) -> None:
        pass


class _Fine(Connector):
    name = "fine"
    roles = frozenset({Role.SOURCE})
    capabilities = frozenset({Capability.GROUPS})

    def read_groups(self) -> Iterator[Group]:
        yield from ()


def test_declared_but_not_implemented_is_refused() -> None:
    with pytest.raises(RegistryError, match=r"declares groups but does not implement read_groups"):
        validate_connector_class(_Declares, "declares")


def test_implemented_but_not_declared_is_refused() -> None:
    assert Capability.DELETE in implemented_capabilities(_Implements)
    with pytest.raises(RegistryError, match=r"implements delete without declaring it"):
        validate_connector_class(_Implements, "implements")


def test_a_consistent_class_is_accepted() -> None:
    assert validate_connector_class(_Fine, "fine") is _Fine
    assert validate_connector_class(MemoryConnector, "memory") is MemoryConnector
    assert implemented_capabilities(MemoryConnector) == frozenset(Capability)


@pytest.mark.parametrize(
    ("obj", "name", "message"),
    [
        (object, "fine", "not a Connector subclass"),
        (_Fine, "other", "loads a connector named 'fine'"),
        (type("NoRole", (Connector,), {"name": "norole"}), "norole", "declares no role"),
    ],
)
def test_malformed_classes_are_refused(obj: object, name: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        validate_connector_class(obj, name)


def _fake_distribution(root: Path, dist: str, module: str, entry_points: str, code: str) -> None:
    """A real (tiny) installed distribution: a module and a ``.dist-info`` with entry points."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points), encoding="utf-8")
    (root / f"{module}.py").write_text(textwrap.dedent(code), encoding="utf-8")


_ECHO = """\
    from ent_migrate.contract import Capability, Connector, Role

    class EchoConnector(Connector):
        name = "kitecho"
        roles = frozenset({Role.SOURCE})
        capabilities = frozenset({Capability.GROUPS})

        def read_groups(self):
            yield from ()

    class OtherMemory(EchoConnector):
        name = "memory"
"""


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    load_registry.cache_clear()
    yield
    load_registry.cache_clear()


@pytest.mark.usefixtures("fresh_registry")
def test_a_third_party_distribution_registers_like_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(
        tmp_path,
        "kit_echo_dist",
        "kit_echo_mod",
        "[ent_migrate.connectors]\nkitecho = kit_echo_mod:EchoConnector\n",
        _ECHO,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry()
    assert registry["kitecho"].distribution == "kit_echo_dist"
    assert registry["kitecho"].value == "kit_echo_mod:EchoConnector"
    assert "memory" in registry
    assert connector_class("kitecho").capabilities == frozenset({Capability.GROUPS})


@pytest.mark.usefixtures("fresh_registry")
def test_a_duplicate_entry_point_name_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(
        tmp_path, "kit_dup_dist", "kit_dup_mod", "[ent_migrate.connectors]\nmemory = kit_dup_mod:OtherMemory\n", _ECHO
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match=r"two connectors are registered as 'memory'.*uninstall one"):
        load_registry()


@pytest.mark.usefixtures("fresh_registry")
def test_a_plugin_that_fails_to_load_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(
        tmp_path,
        "kit_broken_dist",
        "kit_broken_mod",
        "[ent_migrate.connectors]\nkitbroken = kit_broken_mod:Missing\n",
        "X = 1\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match=r"connector 'kitbroken' \(kit_broken_mod:Missing\) failed to load"):
        load_registry()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("memory:", ("memory", "")),
        ("memory:named", ("memory", "named")),
        ("package:/p", ("package", "/p")),
        ("package:relative/dir", ("package", "relative/dir")),
        ("ldap://h:636/dc=x", ("ldap", "//h:636/dc=x")),
        ("imap://127.0.0.1:1143/INBOX", ("imap", "//127.0.0.1:1143/INBOX")),
    ],
)
def test_parse_spec(spec: str, expected: tuple[str, str]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["memory", "", ":x", "/just/a/path"])
def test_parse_spec_refuses_what_is_not_a_spec(spec: str) -> None:
    with pytest.raises(SpecError, match="NAME:LOCATION"):
        parse_spec(spec)


def test_an_unknown_connector_lists_the_registered_ones() -> None:
    with pytest.raises(SpecError, match=r"no connector named 'nosuch' \(registered: .*memory"):
        open_connector("nosuch:x")


def test_open_connector_passes_location_and_options() -> None:
    connector = open_connector("memory:somewhere", {"seed": 7})
    assert isinstance(connector, MemoryConnector)
    assert (connector.location, connector.store_name, connector.seed) == ("somewhere", "somewhere", 7)
