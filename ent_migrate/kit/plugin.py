"""The pytest plugin (entry point ``pytest11: ent_migrate_kit``): the ``kit`` fixture, the
parametrisation of kit tests and their strict xfails. It does nothing for other tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ent_migrate.kit.factory import KIT_ATTRIBUTE, param_id
from ent_migrate.kit.suites import Kit

__all__ = ["kit", "pytest_collection_modifyitems", "pytest_generate_tests"]


def _kit_info(cls: object) -> dict[str, Any] | None:
    info = getattr(cls, KIT_ATTRIBUTE, None) if cls is not None else None
    return info if isinstance(info, dict) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    info = _kit_info(metafunc.cls)
    if info is None:
        return
    entry = info["params"].get(metafunc.function.__name__)
    if entry is None:
        return
    argnames, values = entry
    ids = [param_id(v) for v in values]
    if len(argnames) == 1:
        metafunc.parametrize(argnames[0], [v[0] for v in values], ids=ids)
    else:
        metafunc.parametrize(argnames, values, ids=ids)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        info = _kit_info(getattr(item, "cls", None))
        if info is None:
            continue
        for fragment, reason in info["xfail"].items():
            if fragment in item.name:
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    """The harness of the requesting kit class, with this test's tmp_path, and its connector class."""
    info = _kit_info(request.cls)
    if info is None:
        raise pytest.UsageError("the kit fixture is only for classes made by ent_migrate.kit.kit_tests")
    return Kit(harness=info["harness"](tmp_path), cls=info["connector"])
