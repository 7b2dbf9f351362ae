"""The ``memory`` connector's fault knobs: reproducible, per-operation, and persistent across processes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.contract import Action, Capability, Operation
from ent_migrate.errors import ConfigError, TerminalError, TransientError
from ent_migrate.kit import load_case
from ent_migrate.kit.harness import operations
from ent_migrate.model import Document, Group, Message, Production, RecordKind

OPS = operations(Group(uai="0750001U", code=f"G{i:03}", name=f"Groupe {i}") for i in range(60))


def outcomes(connector: MemoryConnector, ops: list[Operation]) -> list[str]:
    """What each write did: ok, transient, or terminal."""
    out = []
    for op in ops:
        try:
            connector.write(op)
            out.append("ok")
        except TransientError:
            out.append("transient")
        except TerminalError:
            out.append("terminal")
    return out


def test_faults_are_reproducible_for_a_seed() -> None:
    options = {"transient_error": 0.4, "terminal_error": 0.2, "seed": 11}
    first = outcomes(MemoryConnector("a", options), OPS)
    again = outcomes(MemoryConnector("b", options), OPS)
    other = outcomes(MemoryConnector("c", {**options, "seed": 12}), OPS)
    assert first == again
    assert first != other
    assert {"ok", "transient", "terminal"} <= set(first)


def test_a_terminal_error_is_decided_per_operation_id() -> None:
    options = {"terminal_error": 0.3, "seed": 3}
    connector = MemoryConnector("t", options)
    first = outcomes(connector, OPS)
    assert "terminal" in first
    assert "ok" in first
    # the same op fails again, in the same instance and in a resumed run (new instance, same store)
    assert outcomes(connector, OPS) == first
    assert outcomes(MemoryConnector("t", options), OPS) == first
    stored = MemoryConnector.named_store("t").records[RecordKind.GROUP]
    assert set(stored) == {op.key for op, o in zip(OPS, first, strict=True) if o == "ok"}


def test_transient_errors_eventually_pass() -> None:
    connector = MemoryConnector("r", {"transient_error": 0.5, "seed": 5})
    retried, hints = 0, set()
    for op in OPS:
        for _attempt in range(100):
            try:
                connector.write(op)
                break
            except TransientError as exc:
                hints.add(exc.retry_after)
                retried += 1
        else:
            pytest.fail(f"op {op.op_id} never passed")
    assert hints == {0.0}  # the injected error says "retry now", so tests do not sleep
    assert retried > 0
    assert set(connector.store.records[RecordKind.GROUP]) == {op.key for op in OPS}
    assert connector.store.writes == len(OPS)  # a transient failure comes before the write


def test_a_timeout_makes_the_write_and_still_raises() -> None:
    connector = MemoryConnector("to", {"timeout": 1.0})
    op = OPS[0]
    with pytest.raises(TransientError, match="timeout"):
        connector.write(op)
    assert connector.store.records[RecordKind.GROUP][op.key] == op.record
    assert connector.store.writes == 1
    with pytest.raises(TransientError):  # the retry is an upsert: still one record
        connector.write(op)
    assert list(connector.store.records[RecordKind.GROUP]) == [op.key]


def test_fail_on_write_refuses_every_write() -> None:
    dataset = load_case("documents")
    connector = MemoryConnector("ro", {"fail_on_write": True})
    for op in operations(dataset.records):
        blob = None
        if isinstance(op.record, Message | Document | Production):
            blob = io.BytesIO(dataset.blobs[op.record.sha256])
        with pytest.raises(TerminalError, match="fail_on_write"):
            connector.write(op, blob)
    with pytest.raises(TerminalError, match="fail_on_write"):
        connector.delete(RecordKind.GROUP, "x")
    with pytest.raises(TerminalError, match="fail_on_write"):
        connector.write(Operation("d", Action.DELETE, RecordKind.GROUP, "x", None))
    assert connector.store.writes == 0
    assert all(not bucket for bucket in connector.store.records.values())


@pytest.mark.parametrize("option", ["transient_error", "timeout", "terminal_error"])
def test_probabilities_are_checked(option: str) -> None:
    with pytest.raises(ConfigError, match=f"{option} must be a probability"):
        MemoryConnector("x", {option: 1.5})


_READER = """
import json, sys
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.contract import Capability
connector = MemoryConnector("p", {"persist": sys.argv[1]})
wanted = [c for c in Capability if c.value in sys.argv[2:]]
out = {str(c): sorted((r.key, r.fingerprint()) for r in connector.read(c)) for c in wanted}
out["disabled"] = sorted(connector.store.disabled)
print(json.dumps(out))
"""


def test_persist_replays_in_a_new_process(tmp_path: Path) -> None:
    journal = tmp_path / "store.jsonl"
    dataset = load_case("siblings")
    connector = MemoryConnector("p", {"persist": str(journal)})
    ops = operations(dataset.records)
    for op in ops:
        connector.write(op)
    connector.delete(ops[-1].kind, ops[-1].key)
    person = next(op for op in ops if op.kind is RecordKind.PERSON)
    connector.write(Operation("dis", Action.DISABLE, person.kind, person.key, person.record))
    with journal.open("a", encoding="utf-8") as fh:  # a write torn by kill -9: never happened
        fh.write('{"op": "create", "record": {"kind": "group", "uai": "0750001U", "co')
    caps = [Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS]
    done = subprocess.run(
        [sys.executable, "-c", _READER, str(journal), *caps],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    replayed = json.loads(done.stdout)
    expected = {str(c): sorted((r.key, r.fingerprint()) for r in connector.read(c)) for c in caps}
    assert {k: [tuple(x) for x in v] for k, v in replayed.items() if k != "disabled"} == expected
    assert replayed["disabled"] == [person.key]
    assert ops[-1].key not in {key for key, _ in expected["relations"]}


def _apply_with_retries(connector: MemoryConnector, ops: list[Operation]) -> set[str]:
    """Apply like the pipeline: retry transient errors, give up on terminal ones (returned)."""
    failed = set()
    for op in ops:
        for _attempt in range(200):
            try:
                connector.write(op)
                break
            except TransientError:
                continue
            except TerminalError:
                failed.add(op.op_id)
                break
    return failed


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(OPS)), seed=st.integers(min_value=0, max_value=10_000))
def test_an_interrupted_then_resumed_run_with_faults_equals_one_full_run(cut: int, seed: int) -> None:
    options = {"transient_error": 0.3, "timeout": 0.2, "terminal_error": 0.1, "seed": seed}
    MemoryConnector.reset()
    _apply_with_retries(MemoryConnector("resumed", options), OPS[:cut])
    failed_resumed = _apply_with_retries(MemoryConnector("resumed", options), OPS)  # a new process resumes
    failed_full = _apply_with_retries(MemoryConnector("full", options), OPS)
    assert failed_resumed == failed_full
    resumed = MemoryConnector.named_store("resumed").records[RecordKind.GROUP]
    full = MemoryConnector.named_store("full").records[RecordKind.GROUP]
    assert resumed == full
    assert len(full) == len(OPS) - len(failed_full)
