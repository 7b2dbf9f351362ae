"""The kit's suites: source, target, round trip and resume, as plain parametrised test functions.

Each function is registered with :func:`kit_test`, which records the roles and capabilities a
connector needs for the test to apply, which capabilities the test covers (the meta-tests check
that every :class:`~ent_migrate.contract.Capability` is covered) and how it is parametrised.
:func:`ent_migrate.kit.kit_tests` copies the applicable ones into a connector's test class.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import create_engine

from ent_migrate.contract import (
    CAPABILITY_KINDS,
    DATA_CAPABILITIES,
    Capability,
    Connector,
    Role,
    TargetRules,
)
from ent_migrate.kit.dataset import Dataset, case_names, load_case
from ent_migrate.kit.harness import (
    Endpoint,
    Harness,
    Snapshot,
    apply,
    data_capabilities,
    operations,
    read_snapshot,
)
from ent_migrate.kit.memory import MemoryHarness
from ent_migrate.model import Document, Message, Production, Record, RecordKind, record_from_dict
from ent_migrate.pipeline._forked import forked_rows
from ent_migrate.problems import Severity

__all__ = ["KIT_TESTS", "Kit", "KitTest", "compare", "kit_test"]

#: the case whose ``.later`` state moves a pupil to another class (class change, delta)
CHANGE_CASE = "class_change"
_MAX_LISTED = 10

Params = list[tuple[Any, ...]]


@dataclasses.dataclass
class Kit:
    """What a kit test receives (the ``kit`` fixture): the harness and the connector class."""

    harness: Harness
    cls: type[Connector]

    def dataset(self, case: str, *, later: bool = False) -> Dataset:
        """The case, restricted to what this connector's capabilities carry."""
        return load_case(case, later=later).restrict(data_capabilities(self.cls))

    @property
    def capabilities(self) -> list[Capability]:
        return data_capabilities(self.cls)

    def round_trip_sides(self) -> tuple[Harness, Harness]:
        """(source harness, target harness): this connector on each side it can play, memory otherwise."""
        source: Harness = self.harness if Role.SOURCE in self.cls.roles else MemoryHarness(self.harness.tmp_path)
        readable = Role.TARGET in self.cls.roles and Capability.READ_BACK in self.cls.capabilities
        target: Harness = self.harness if readable else MemoryHarness(self.harness.tmp_path)
        return source, target


@dataclasses.dataclass(frozen=True)
class KitTest:
    func: Callable[..., None]
    roles: frozenset[Role]  # the connector must play all of these (empty: any)
    requires: frozenset[Capability]  # ... and declare all of these
    covers: frozenset[Capability]
    argnames: tuple[str, ...]
    params: Callable[[type[Connector]], Params]

    @property
    def name(self) -> str:
        return self.func.__name__

    def applies(self, cls: type[Connector]) -> bool:
        return self.roles <= cls.roles and self.requires <= cls.capabilities and bool(self.params(cls))


KIT_TESTS: dict[str, KitTest] = {}


def kit_test(
    *,
    roles: Iterable[Role] = (),
    requires: Iterable[Capability] = (),
    covers: Iterable[Capability] = (),
    argnames: tuple[str, ...] = (),
    params: Callable[[type[Connector]], Params] | None = None,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(func: Callable[..., None]) -> Callable[..., None]:
        KIT_TESTS[func.__name__] = KitTest(
            func, frozenset(roles), frozenset(requires), frozenset(covers), argnames, params or (lambda cls: [()])
        )
        return func

    return register


# -- parametrisations ----------------------------------------------------------------------------
def _cases_with(cls: type[Connector], predicate: Callable[[Dataset], bool]) -> list[str]:
    caps = data_capabilities(cls)
    return [name for name in case_names() if predicate(load_case(name).restrict(caps))]


def _by_case(cls: type[Connector]) -> Params:
    return [(name,) for name in _cases_with(cls, lambda d: bool(d.records))]


def _by_capability_and_case(cls: type[Connector], only: Iterable[Capability] = DATA_CAPABILITIES) -> Params:
    wanted = set(only)
    return [
        (cap, name)
        for cap in data_capabilities(cls)
        if cap in wanted
        for name in case_names()
        if load_case(name).restrict([cap]).records
    ]


def _by_blob_capability_and_case(cls: type[Connector]) -> Params:
    return _by_capability_and_case(cls, (Capability.MAIL, Capability.DOCUMENTS))


def _by_blob_case(cls: type[Connector]) -> Params:
    return [(name,) for name in _cases_with(cls, lambda d: bool(d.blob_records()))]


def _change_case(cls: type[Connector]) -> Params:
    return (
        [(CHANGE_CASE,)]
        if CHANGE_CASE in case_names() and load_case(CHANGE_CASE).restrict(data_capabilities(cls)).records
        else []
    )


# -- comparison ----------------------------------------------------------------------------------
def compare(actual: Snapshot, expected: Snapshot, what: str) -> list[str]:
    """Differences between two snapshots, by (kind, key) and fingerprint; empty when equal."""
    out: list[str] = []
    for ident in sorted(expected.keys() - actual.keys()):
        out.append(f"{what}: missing {ident[0]} {ident[1]!r}")
    for ident in sorted(actual.keys() - expected.keys()):
        out.append(f"{what}: unexpected {ident[0]} {ident[1]!r}")
    for ident in sorted(actual.keys() & expected.keys()):
        if actual[ident].fingerprint() != expected[ident].fingerprint():
            out.append(f"{what}: {ident[0]} {ident[1]!r} differs: read {actual[ident]!r}, expected {expected[ident]!r}")
    return out


def _check(differences: list[str]) -> None:
    if differences:
        shown = "\n  ".join(differences[:_MAX_LISTED])
        more = f"\n  ... and {len(differences) - _MAX_LISTED} more" if len(differences) > _MAX_LISTED else ""
        raise AssertionError(f"{len(differences)} difference(s):\n  {shown}{more}")


def _only(snapshot: Mapping[tuple[RecordKind, str], Record], caps: Iterable[Capability]) -> Snapshot:
    kinds = {k for cap in caps for k in CAPABILITY_KINDS[cap]}
    return {ident: r for ident, r in snapshot.items() if ident[0] in kinds}


def _read(connector: Connector, caps: Iterable[Capability], what: str) -> Snapshot:
    snapshot, duplicates = read_snapshot(connector, caps)
    _check([f"{what}: read twice or through the wrong capability: {d}" for d in duplicates])
    errors = [p.code for p in connector.problems if p.severity is Severity.ERROR]
    assert not errors, f"{what}: the connector reported problems {errors} on valid input"
    return snapshot


def _read_back(kit: Kit, endpoint: Endpoint, what: str) -> Snapshot:
    with kit.harness.open(endpoint) as target:
        return _read(target, kit.capabilities, what)


def _apply(kit: Kit, endpoint: Endpoint, dataset: Dataset, count: int | None = None) -> None:
    ops = operations(dataset.records)
    with kit.harness.open(endpoint) as target:
        apply(target, ops[:count] if count is not None else ops, dataset.blobs)


# -- source suite --------------------------------------------------------------------------------
@kit_test(
    roles=[Role.SOURCE], covers=DATA_CAPABILITIES, argnames=("capability", "case"), params=_by_capability_and_case
)
def test_source_reads_every_record(self: object, kit: Kit, capability: Capability, case: str) -> None:
    """Every record of the case is read back, nothing else, with the fingerprint the format allows."""
    dataset = kit.dataset(case)
    endpoint = kit.harness.source(dataset)
    with kit.harness.open(endpoint) as source:
        actual = _read(source, [capability], f"{case} via {capability}")
    expected = _only(kit.harness.expect(dataset.records), [capability])
    _check(compare(actual, expected, f"{case} via {capability}"))


@kit_test(
    roles=[Role.SOURCE], covers=DATA_CAPABILITIES, argnames=("capability", "case"), params=_by_capability_and_case
)
def test_source_stable_reads(self: object, kit: Kit, capability: Capability, case: str) -> None:
    """Two reads (two connector instances) give the same keys with the same fingerprints, each key once.
    Order may differ (a server need not sort), identity may not."""
    endpoint = kit.harness.source(kit.dataset(case))
    reads = []
    for number in (1, 2):
        with kit.harness.open(endpoint) as source:
            reads.append(_read(source, [capability], f"{case} via {capability}, read {number}"))
    _check(compare(reads[1], reads[0], f"{case} via {capability}, second read vs first"))
    assert reads[0], f"{case} via {capability}: nothing was read"


@kit_test(
    roles=[Role.SOURCE],
    covers=[Capability.MAIL, Capability.DOCUMENTS],
    argnames=("capability", "case"),
    params=_by_blob_capability_and_case,
)
def test_source_open_blob(self: object, kit: Kit, capability: Capability, case: str) -> None:
    """``open_blob`` gives bytes whose SHA-256 and size are the record's."""
    dataset = kit.dataset(case)
    endpoint = kit.harness.source(dataset)
    with kit.harness.open(endpoint) as source:
        read = list(source.read(capability))
        assert any(isinstance(r, Message | Document | Production) for r in read), f"{case}: no blob record read"
        _check(_blob_differences(source, read))


@kit_test(
    roles=[Role.SOURCE],
    requires=[Capability.BLOB_HASH],
    covers=[Capability.BLOB_HASH],
    argnames=("case",),
    params=_by_blob_case,
)
def test_source_blob_sha256(self: object, kit: Kit, case: str) -> None:
    """``blob_sha256`` (hash without download) equals the hash of the real bytes."""
    dataset = kit.dataset(case)
    endpoint = kit.harness.source(dataset)
    with kit.harness.open(endpoint) as source:
        for record in dataset.blob_records():
            real = hashlib.sha256(dataset.blobs[record.sha256]).hexdigest()
            assert source.blob_sha256(record) == real, f"{record.kind} {record.key!r}: blob_sha256 is wrong"


def _by_case_read_in_child(cls: type[Connector]) -> Params:
    return _by_case(cls) if cls.reads_in_child else []


def _answers(connector: Connector) -> tuple[bool, bool | None]:
    """What later stages ask a source once it has been read."""
    partial = connector.is_partial() if Capability.DELTA in connector.capabilities else None
    return connector.person_ids_are_jointures(), partial


@kit_test(roles=[Role.SOURCE], argnames=("case",), params=_by_case_read_in_child)
def test_source_read_in_a_child(self: object, kit: Kit, case: str) -> None:
    """A connector that says ``reads_in_child``, read in a forked child as extract reads it and handed
    the child's problems, is one that read here: the same records, problems and answers (jointures,
    delta), and its blobs still open."""
    endpoint = kit.harness.source(kit.dataset(case))
    with kit.harness.open(endpoint) as here:
        # Whatever problems the case gives this connector (a format that cannot carry a field): the
        # same ones either way is what is asked here.
        expected, _ = read_snapshot(here, kit.capabilities)
        problems, answers = here.problems.to_list(), _answers(here)
    engine = create_engine("sqlite://")  # forked_rows lets a store's connections go; this one has none
    with kit.harness.open(endpoint) as there:
        caps = kit.capabilities
        rows = forked_rows(
            engine,
            lambda: (record for cap in caps for record in there.read(cap)),
            lambda record: (record.to_dict(),),
            lambda row: record_from_dict(row[0]),
            finish=there.read_outcome,
            on_end=there.adopt_read_outcome,
            what="the source",
        )
        actual = {(record.kind, record.key): record for record in rows}
        _check(compare(actual, expected, f"{case} read in a child vs read here"))
        assert there.problems.to_list() == problems, f"{case}: the child's problems are not the ones read here"
        assert _answers(there) == answers, f"{case}: a source read in a child answers otherwise"
        _check(_blob_differences(there, list(actual.values())))
    engine.dispose()


@kit_test(
    roles=[Role.SOURCE],
    requires=[Capability.RELATIONS],
    covers=[Capability.RELATIONS],
    argnames=("case",),
    params=_change_case,
)
def test_source_class_change(self: object, kit: Kit, case: str) -> None:
    """A pupil who changes class between two reads: the second read has the new membership only,
    and everything else (ids, fingerprints) is unchanged."""
    before, after = kit.dataset(case), kit.dataset(case, later=True)
    endpoint = kit.harness.source(before)
    with kit.harness.open(endpoint) as source:
        first = _read(source, kit.capabilities, f"{case}, first read")
    endpoint = kit.harness.update_source(endpoint, after, kit.harness.tmp_path / "source")
    with kit.harness.open(endpoint) as source:
        second = _read(source, kit.capabilities, f"{case}, second read")
    _check(compare(first, kit.harness.expect(before.records), f"{case}, first read"))
    _check(compare(second, kit.harness.expect(after.records), f"{case}, second read"))
    assert first != second, f"{case}: the second read did not see the class change"


@kit_test(
    roles=[Role.SOURCE], requires=[Capability.DELTA], covers=[Capability.DELTA], argnames=("case",), params=_change_case
)
def test_source_delta(self: object, kit: Kit, case: str) -> None:
    """A complete source says it is whole and a delta source says it is a part (so plan never turns
    what a delta lacks into deletions); a delta yields exactly the records it carries, and the engine's
    known-people lookup is accepted before reading."""
    full, later = kit.dataset(case), kit.dataset(case, later=True)
    before = set(full.records)
    delta = Dataset(f"{case}-delta", tuple(r for r in later.records if r not in before), later.blobs, later.raw)
    assert delta.records, f"{case}: the later state changes nothing; the case cannot test a delta"
    asked: list[str] = []

    def known(person_id: str) -> bool:
        asked.append(person_id)
        return True

    with kit.harness.open(kit.harness.source(full)) as source:
        source.use_known_people(known)
        whole = _read(source, kit.capabilities, f"{case}, complete read")
        assert source.is_partial() is False, f"{case}: a complete source says it is partial"
    with kit.harness.open(kit.harness.delta_source(delta)) as source:
        source.use_known_people(known)
        part = _read(source, kit.capabilities, f"{case}, delta read")
        assert source.is_partial() is True, f"{case}: a delta source says it is complete"
    _check(compare(whole, kit.harness.expect(full.records), f"{case}, complete read"))
    _check(compare(part, kit.harness.expect_delta(delta.records), f"{case}, delta read"))


# -- target suite --------------------------------------------------------------------------------
@kit_test(
    roles=[Role.TARGET], covers=DATA_CAPABILITIES, argnames=("capability", "case"), params=_by_capability_and_case
)
def test_target_accepts_every_write(self: object, kit: Kit, capability: Capability, case: str) -> None:
    """Every record the capability carries is written through ``Connector.write`` without error."""
    dataset = kit.dataset(case).restrict([capability])
    endpoint = kit.harness.fresh_target("target")
    with kit.harness.open(endpoint) as target:
        apply(target, operations(dataset.records), dataset.blobs)
        if Capability.READ_BACK in kit.cls.capabilities:
            actual = _read(target, [capability], f"{case} read back via {capability}")
            expected = kit.harness.expect(dataset.records)
            _check(compare(actual, expected, f"{case} read back via {capability}"))


@kit_test(
    roles=[Role.TARGET],
    requires=[Capability.READ_BACK],
    covers=[Capability.READ_BACK],
    argnames=("case",),
    params=_by_case,
)
def test_target_read_back(self: object, kit: Kit, case: str) -> None:
    """Write the whole case, then read it back from a new connector instance."""
    dataset = kit.dataset(case)
    endpoint = kit.harness.fresh_target("target")
    _apply(kit, endpoint, dataset)
    back = _read_back(kit, endpoint, case)
    _check(compare(back, kit.harness.expect(dataset.records), f"{case} read back"))
    with kit.harness.open(endpoint) as target:
        _check(_blob_differences(target, back.values()))


def _blob_differences(connector: Connector, records: Iterable[Record]) -> list[str]:
    """Blobs whose bytes (``open_blob``) or reported hash (``blob_sha256``) are not the record's,
    checked through whichever of the two methods the connector implements."""
    cls = type(connector)
    streams = cls.open_blob is not Connector.open_blob
    hashes = cls.blob_sha256 is not Connector.blob_sha256
    out = []
    for record in records:
        if not isinstance(record, Message | Document | Production):
            continue
        if streams:
            digest, size = hashlib.sha256(), 0
            with connector.open_blob(record) as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
            if (digest.hexdigest(), size) != (record.sha256, record.size):
                out.append(f"{record.kind} {record.key!r}: open_blob gives {size} bytes that do not match the record")
        if hashes and connector.blob_sha256(record) != record.sha256:
            out.append(f"{record.kind} {record.key!r}: blob_sha256 is not the record's hash")
    return out


@kit_test(
    roles=[Role.TARGET],
    requires=[Capability.READ_BACK],
    covers=[Capability.READ_BACK],
    argnames=("case",),
    params=_by_case,
)
def test_target_idempotent(self: object, kit: Kit, case: str) -> None:
    """Re-applying the same operations (same op ids) changes nothing and duplicates nothing."""
    dataset = kit.dataset(case)
    endpoint = kit.harness.fresh_target("target")
    _apply(kit, endpoint, dataset)
    once = _read_back(kit, endpoint, f"{case} after one apply")
    _apply(kit, endpoint, dataset)
    twice = _read_back(kit, endpoint, f"{case} after two applies")
    _check(compare(twice, once, f"{case} re-applied"))


@kit_test(
    roles=[Role.TARGET], requires=[Capability.DELETE], covers=[Capability.DELETE], argnames=("case",), params=_by_case
)
def test_target_delete(self: object, kit: Kit, case: str) -> None:
    """``delete`` (reverse dependency order) removes every record; read back is then empty."""
    dataset = kit.dataset(case)
    endpoint = kit.harness.fresh_target("target")
    _apply(kit, endpoint, dataset)
    with kit.harness.open(endpoint) as target:
        for record in reversed(dataset.records):
            target.delete(record.kind, record.key)
    if Capability.READ_BACK in kit.cls.capabilities:
        left = _read_back(kit, endpoint, f"{case} after delete")
        _check(compare(left, {}, f"{case} after delete"))


class _Aborted(Exception):
    """What the aborting kit test raises inside a target's ``with`` block."""


def _first_case(cls: type[Connector]) -> Params:
    return _by_case(cls)[:1]


@kit_test(roles=[Role.TARGET], argnames=("case",), params=_first_case)
def test_target_aborted_is_not_finished(self: object, kit: Kit, case: str) -> None:
    """Leaving a target's ``with`` block on an exception releases it (``close``) and never finishes it
    (``finish``: no package packed, nothing half-written made to look complete); what was written is not
    lost either: a new instance resumes, and once finished reads back like one whole apply."""
    dataset = kit.dataset(case)
    ops = operations(dataset.records)
    endpoint = kit.harness.fresh_target("target")
    target = kit.harness.open(endpoint)
    calls: list[str] = []
    real_finish, real_close = target.finish, target.close

    def finish() -> None:
        calls.append("finish")
        real_finish()

    def close() -> None:
        calls.append("close")
        real_close()

    target.finish = finish  # type: ignore[method-assign]  # watching one instance's lifecycle
    target.close = close  # type: ignore[method-assign]
    try:
        with target:
            apply(target, ops[: len(ops) // 2], dataset.blobs)
            raise _Aborted
    except _Aborted:
        pass
    assert calls == ["close"], f"{case}: an aborted target called {calls}, not only close"
    with kit.harness.open(endpoint) as again:
        apply(again, ops, dataset.blobs)
    if Capability.READ_BACK in kit.cls.capabilities:
        back = _read_back(kit, endpoint, f"{case} after an abort and a resume")
        _check(compare(back, kit.harness.expect(dataset.records), f"{case} after an abort and a resume"))


@kit_test(roles=[Role.TARGET])
def test_target_rules(self: object, kit: Kit) -> None:
    """``rules()`` returns the target's :class:`TargetRules`, naming only real kinds."""
    with kit.harness.open(kit.harness.fresh_target("target")) as target:
        rules = target.rules()
    assert isinstance(rules, TargetRules)
    assert all(isinstance(kind, RecordKind) for kind in rules.required)


@kit_test(
    roles=[Role.TARGET],
    requires=[Capability.READ_BACK],
    covers=[Capability.READ_BACK],
    argnames=("case",),
    params=_by_case,
)
def test_target_resume(self: object, kit: Kit, case: str) -> None:
    """Half the operations, then all of them from a new instance (a resumed run): the read-back
    equals one full apply on a fresh target."""
    dataset = kit.dataset(case)
    resumed, full = kit.harness.fresh_target("resumed"), kit.harness.fresh_target("full")
    _apply(kit, resumed, dataset, count=len(dataset.records) // 2)
    _apply(kit, resumed, dataset)
    _apply(kit, full, dataset)
    _check(
        compare(
            _read_back(kit, resumed, f"{case} resumed"),
            _read_back(kit, full, f"{case} full"),
            f"{case} resumed vs full",
        )
    )


# -- round trip ----------------------------------------------------------------------------------
def _round_trip_params(cls: type[Connector]) -> Params:
    readable = Role.SOURCE in cls.roles or Capability.READ_BACK in cls.capabilities
    return _by_case(cls) if readable else []


@kit_test(covers=DATA_CAPABILITIES, argnames=("case",), params=_round_trip_params)
def test_round_trip(self: object, kit: Kit, case: str) -> None:
    """Source → target → read back equals the source (memory plays the side this connector cannot)."""
    source_side, target_side = kit.round_trip_sides()
    dataset = kit.dataset(case)
    with source_side.open(source_side.source(dataset, "rt-source")) as source:
        read = _read(source, kit.capabilities, f"{case} source")
        blobs = {}
        for record in read.values():
            if isinstance(record, Message | Document | Production):
                with source.open_blob(record) as stream:
                    blobs[record.sha256] = stream.read()
    endpoint = target_side.fresh_target("rt-target")
    with target_side.open(endpoint) as target:
        apply(target, operations(read.values()), blobs)
    with target_side.open(endpoint) as target:
        back = _read(target, kit.capabilities, f"{case} read back")
    _check(compare(back, target_side.expect(read.values()), f"{case} round trip"))
    _check(compare(back, target_side.expect(source_side.expect(dataset.records).values()), f"{case} vs the case"))
