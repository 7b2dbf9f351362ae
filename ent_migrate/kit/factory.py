"""``kit_tests``: build a connector's pytest test class from the applicable kit tests."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from ent_migrate.kit.harness import Harness
from ent_migrate.kit.suites import KIT_TESTS
from ent_migrate.registry import connector_class

__all__ = ["KIT_ATTRIBUTE", "kit_test_ids", "kit_tests", "param_id"]

#: the attribute that marks a class built by kit_tests (the plugin and the meta-tests look for it)
KIT_ATTRIBUTE = "ent_migrate_kit"


def _copy(func: types.FunctionType, qualname: str) -> types.FunctionType:
    # A fresh function object per connector class: pytest marks and parametrisation attach to the
    # function, and one connector's marks must never leak into another's.
    out = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    out.__doc__, out.__qualname__, out.__module__ = func.__doc__, qualname, func.__module__
    out.__annotations__ = dict(func.__annotations__)
    return out


def kit_tests(harness: type[Harness], xfail: Mapping[str, str] | None = None) -> type:
    """A test class running every kit test that applies to ``harness.name``'s roles and capabilities.

    *xfail* maps a test-id fragment (matched against ``test_name[params]``) to the reason of a known
    failure; the matching tests are marked ``xfail(strict=True)``. Assign the result to a module-level
    name starting with ``Test``.
    """
    if not (isinstance(harness, type) and issubclass(harness, Harness)) or not harness.name:
        raise TypeError("kit_tests takes a Harness subclass with a connector name")
    cls = connector_class(harness.name)  # a clear SpecError if the connector is not registered
    class_name = "Test" + "".join(part.title() for part in harness.name.replace("-", "_").split("_")) + "Kit"
    namespace: dict[str, Any] = {"__test__": True, "__doc__": f"Conformance kit for the {harness.name} connector."}
    params: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {}
    for name, test in KIT_TESTS.items():
        if not test.applies(cls):
            continue
        assert isinstance(test.func, types.FunctionType)
        namespace[name] = _copy(test.func, f"{class_name}.{name}")
        if test.argnames:
            params[name] = (test.argnames, test.params(cls))
    known = dict(xfail or {})
    stale = sorted(f for f in known if not any(f in test_id for test_id in kit_test_ids(params, namespace)))
    if stale:
        # Checked here, on every test the class has, not on the selected items: a stale xfail must
        # fail the collection whatever subset of tests is run.
        raise ValueError(f"{class_name}: xfail fragment(s) {', '.join(map(repr, stale))} match no kit test")
    namespace[KIT_ATTRIBUTE] = {"harness": harness, "connector": cls, "params": params, "xfail": known}
    return type(class_name, (), namespace)


def param_id(values: tuple[Any, ...]) -> str:
    """The id pytest shows for one parametrisation (the plugin passes the same ids)."""
    return "-".join(str(v) for v in values)


def kit_test_ids(
    params: Mapping[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]], namespace: Mapping[str, Any]
) -> list[str]:
    """Every test id (``name`` or ``name[params]``) a kit class generates."""
    out: list[str] = []
    for name in namespace:
        if not name.startswith("test_"):
            continue
        if name in params:
            out.extend(f"{name}[{param_id(v)}]" for v in params[name][1])
        else:
            out.append(name)
    return out
