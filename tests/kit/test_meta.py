"""Meta-tests of the conformance kit: every connector runs it, every capability is covered, the
hostile cases say what they claim, and the plugin's xfails are strict and never stale."""

from __future__ import annotations

import ast
import hashlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ent_migrate.contract import Capability, Connector, Role
from ent_migrate.kit import Harness, case_names, kit_tests, load_case
from ent_migrate.kit.dataset import CASES_DIR, LATER_SUFFIX, load_jsonl
from ent_migrate.kit.factory import KIT_ATTRIBUTE
from ent_migrate.kit.suites import KIT_TESTS
from ent_migrate.model import Document, Group, Guardianship, Membership, Message, Person, Profile
from ent_migrate.registry import load_registry

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
KIT_DIR = ROOT / "tests" / "connectors"

#: connectors registered before their owner wrote tests/connectors/<name>/test_kit.py. Strict: once the
#: file exists the xfail passes, fails the run, and the name must be removed from here.
PENDING_KIT_FILES: dict[str, str] = {}


def _uses_kit_tests(path: Path) -> bool:
    """True when the module assigns ``kit_tests(...)`` to a module-level ``Test*`` name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if called == "kit_tests" and any(n.startswith("Test") for n in names):
                return True
    return False


def _registered() -> Iterator[object]:
    for name in load_registry():
        marks = [pytest.mark.xfail(strict=True, reason=PENDING_KIT_FILES[name])] if name in PENDING_KIT_FILES else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_registered()))
def test_every_registered_connector_has_a_kit_test_file(name: str) -> None:
    path = KIT_DIR / name.replace("-", "_") / "test_kit.py"  # edifice-archive: a package name has no "-"
    assert path.is_file(), f"connector {name!r} has no kit test file {path.relative_to(ROOT)}"
    assert _uses_kit_tests(path), f"{path.relative_to(ROOT)} does not assign kit_tests(...) to a Test* name"


def test_the_pending_list_only_names_registered_connectors() -> None:
    assert set(PENDING_KIT_FILES) <= set(load_registry())


def test_every_capability_is_covered_by_a_kit_test() -> None:
    covered = {cap for test in KIT_TESTS.values() for cap in test.covers}
    assert covered == set(Capability), f"uncovered: {sorted(set(Capability) - covered)}"


def test_the_memory_kit_class_really_runs_a_test_per_capability() -> None:
    from tests.connectors.memory.test_kit import TestMemoryKit

    info = getattr(TestMemoryKit, KIT_ATTRIBUTE)
    present = [name for name in vars(TestMemoryKit) if name.startswith("test_")]
    covered = {cap for name in present for cap in KIT_TESTS[name].covers}
    assert covered == set(Capability)
    assert set(present) == set(KIT_TESTS)  # memory has every role and capability: every kit test applies
    assert all(info["params"][name][1] for name in info["params"])


class _SourceOnly(Connector):
    name = "kit-source-only"
    roles = frozenset({Role.SOURCE})
    capabilities = frozenset({Capability.GROUPS})

    def read_groups(self) -> Iterator[Group]:
        yield from ()


def test_tests_follow_roles_and_capabilities() -> None:
    applicable = {name for name, test in KIT_TESTS.items() if test.applies(_SourceOnly)}
    assert applicable == {
        "test_source_reads_every_record",
        "test_source_stable_reads",
        "test_round_trip",
    }


# -- the hostile cases ---------------------------------------------------------------------------
EXPECTED_CASES = {
    "accents",
    "particles",
    "homonyms",
    "siblings",
    "empty_optional",
    "shared_email",
    "documents",
    "mail_8bit",
    "class_change",
}


def test_the_hostile_cases_are_all_there_and_load() -> None:
    assert set(case_names()) == EXPECTED_CASES
    for name in case_names():
        dataset = load_case(name)
        assert dataset.records, name
        for record in dataset.blob_records():
            assert len(dataset.blobs[record.sha256]) == record.size


def test_accents_holds_one_person_written_nfc_and_nfd() -> None:
    lines = (CASES_DIR / "accents.jsonl").read_text(encoding="utf-8").splitlines()
    assert any("\\u0301" in line for line in lines)  # combining acute: NFD on disk
    ids = [line for line in lines if '"id": "kit-acc-1"' in line]
    assert len(ids) == 2
    assert ids[0] != ids[1]
    records, raw = load_jsonl(CASES_DIR / "accents.jsonl")
    people = [r for r in records if isinstance(r, Person)]
    assert len(people) == len({p.id for p in people})
    assert next(p for p in people if p.id == "kit-acc-1").first_name == "Éloïse"
    assert any("\u0301" in str(value) for value in raw[(people[0].kind, "kit-acc-2")].values())


def test_particles_and_apostrophes() -> None:
    names = {p.last_name for p in load_case("particles").of_kinds(Person.kind) if isinstance(p, Person)}
    assert {"d'Artagnan", "Le Goff-Núñez", "N'Diaye", "D’Almeida"} <= names


def test_homonym_pupils_in_one_class() -> None:
    dataset = load_case("homonyms")
    pupils = [p for p in dataset.records if isinstance(p, Person) and p.profile is Profile.STUDENT]
    assert len(pupils) == 2
    assert len({(p.last_name, p.first_name, p.birth_date) for p in pupils}) == 1
    assert len({p.id for p in pupils}) == 2
    classes = {
        (m.uai, m.group_code)
        for m in dataset.records
        if isinstance(m, Membership) and m.person_id in {p.id for p in pupils}
    }
    assert len(classes) == 1


def test_siblings_share_guardians_across_two_schools() -> None:
    dataset = load_case("siblings")
    people = {p.id: p for p in dataset.records if isinstance(p, Person)}
    links = [g for g in dataset.records if isinstance(g, Guardianship)]
    by_guardian: dict[str, set[str]] = {}
    for link in links:
        by_guardian.setdefault(link.guardian_id, set()).add(link.student_id)
    assert len(by_guardian) == 2
    for children in by_guardian.values():
        assert len(children) == 2
        assert len({people[c].structures for c in children}) == 2  # two schools


def test_empty_optional_fields_and_shared_email() -> None:
    people = [p for p in load_case("empty_optional").records if isinstance(p, Person)]
    assert any(p.birth_date is None and p.ine is None and not p.emails and not p.structures for p in people)
    assert any(p.first_name == "" for p in people)
    emails = [e for p in load_case("shared_email").records if isinstance(p, Person) for e in p.emails]
    assert len(emails) > len(set(emails))


def test_documents_hold_a_zero_byte_and_a_25_mb_blob() -> None:
    dataset = load_case("documents")
    sizes = sorted(d.size for d in dataset.records if isinstance(d, Document))
    assert sizes == [0, 25 * 1024 * 1024]
    large = next(d for d in dataset.records if isinstance(d, Document) and d.size)
    assert hashlib.sha256(dataset.blobs[large.sha256]).hexdigest() == large.sha256  # the recipe did not drift
    assert not any(p.stat().st_size > 1_000_000 for p in CASES_DIR.iterdir())  # generated, never committed


def test_mail_has_raw_8bit_headers() -> None:
    dataset = load_case("mail_8bit")
    message = next(m for m in dataset.records if isinstance(m, Message))
    headers = dataset.blobs[message.sha256].split(b"\n\n", 1)[0]
    subject = next(line for line in headers.split(b"\n") if line.startswith(b"Subject:"))
    sender = next(line for line in headers.split(b"\n") if line.startswith(b"From:"))
    for header in (subject, sender):
        assert any(byte > 0x7F for byte in header)
        with pytest.raises(UnicodeDecodeError):
            header.decode("utf-8")  # Latin-1 bytes, not UTF-8 and not RFC 2047 encoded words
    assert b"=?" not in headers


def test_class_change_moves_one_pupil() -> None:
    before = {m.key for m in load_case("class_change").records if isinstance(m, Membership)}
    after = {m.key for m in load_case("class_change", later=True).records if isinstance(m, Membership)}
    assert len(before - after) == 1
    assert len(after - before) == 1
    assert (before - after).pop().split("|")[0] == (after - before).pop().split("|")[0]
    assert (CASES_DIR / f"class_change{LATER_SUFFIX}").is_file()


def test_the_cases_ship_in_the_wheel() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["*"]
    suffixes = {p.suffix for p in CASES_DIR.iterdir() if p.name != "__init__.py"} | {".json"}
    assert {f"*{s}" for s in suffixes} <= set(package_data)
    assert (CASES_DIR / "__init__.py").is_file()  # a package, so the "*" patterns apply to it


# -- the plugin ----------------------------------------------------------------------------------
class _Memory(Harness):
    name = "memory"


def test_a_stale_xfail_fragment_is_an_error() -> None:
    with pytest.raises(ValueError, match="'no_such_test' match no kit test"):
        kit_tests(_Memory, xfail={"no_such_test": "stale"})


def test_kit_tests_refuses_a_non_harness() -> None:
    with pytest.raises(TypeError):
        kit_tests(object)  # type: ignore[arg-type]  # the wrong type on purpose


_INNER = '''
import uuid
import dataclasses
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.kit import Harness, kit_tests
from ent_migrate.model import Person, Document, Message, Production


class LossyHarness(Harness):
    """Claims the format keeps e-mail addresses while the test says they are dropped: must fail."""
    name = "memory"

    def source_spec(self, dataset, tmp_path):
        label = f"s-{uuid.uuid4().hex}"
        store = MemoryConnector.named_store(label)
        for r in dataset.records:
            blob = dataset.blobs[r.sha256] if isinstance(r, (Document, Message, Production)) else None
            store.put(dataclasses.replace(r, emails=()) if isinstance(r, Person) else r, blob)
        return f"memory:{label}"

    def target_spec(self, tmp_path):
        return f"memory:t-{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path)).hex}"


TestLossy = kit_tests(LossyHarness, xfail={"accounts-siblings": "known loss", "test_target_rules": "passes"})
'''


def test_the_kit_catches_a_lossy_source_and_xfails_are_strict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=_INNER)
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "-k", "reads_every_record or rules")
    out = result.stdout.str()
    # people with e-mail addresses are lost: the kit says so
    assert "test_source_reads_every_record[accounts-shared_email] FAILED" in out
    assert "test_source_reads_every_record[accounts-particles] FAILED" in out
    assert "differs" in out
    # records without e-mail pass
    assert "test_source_reads_every_record[groups-homonyms] PASSED" in out
    # a known failure is an xfail ...
    assert "test_source_reads_every_record[accounts-siblings] XFAIL" in out
    # ... and strict: an xfail on a passing test fails the run
    assert "test_target_rules FAILED" in out
    assert "XPASS(strict)" in out
    assert "SKIPPED" not in out


_ONE_SIDED = '''
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.contract import Capability, Connector, Role
from ent_migrate.model import RecordKind

_SINKS = {}


class Sink(Connector):
    """A target only (accounts, groups, read-back): the kit must take memory as its source."""
    name = "kitsink"
    roles = frozenset({Role.TARGET})
    capabilities = frozenset({Capability.ACCOUNTS, Capability.GROUPS, Capability.READ_BACK})

    def _bucket(self):
        return _SINKS.setdefault(self.location, {})

    def write_account(self, op):
        self._bucket()[(op.kind, op.key)] = op.record

    def write_group(self, op):
        self._bucket()[(op.kind, op.key)] = op.record

    def read_accounts(self):
        kinds = (RecordKind.STRUCTURE, RecordKind.PERSON, RecordKind.FUNCTION)
        yield from (r for (k, _), r in sorted(self._bucket().items()) if k in kinds)

    def read_groups(self):
        yield from (r for (k, _), r in sorted(self._bucket().items()) if k is RecordKind.GROUP)


class Tap(Connector):
    """A source only (relations): the kit must take memory as its target."""
    name = "kittap"
    roles = frozenset({Role.SOURCE})
    capabilities = frozenset({Capability.RELATIONS})

    def read_relations(self):
        yield from MemoryConnector.named_store(self.location).sorted_records(
            RecordKind.MEMBERSHIP, RecordKind.GUARDIANSHIP)
'''

_ONE_SIDED_TESTS = """
import uuid
from ent_migrate.connectors.memory import MemoryConnector
from ent_migrate.kit import Harness, kit_tests


class SinkHarness(Harness):
    name = "kitsink"

    def target_spec(self, tmp_path):
        return f"kitsink:{tmp_path}"


class TapHarness(Harness):
    name = "kittap"

    def source_spec(self, dataset, tmp_path):
        label = uuid.uuid4().hex
        for record in dataset.records:
            MemoryConnector.named_store(label).put(record)
        return f"kittap:{label}"


TestSink = kit_tests(SinkHarness)
TestTap = kit_tests(TapHarness)
"""


def test_one_sided_connectors_get_their_tests_and_memory_as_the_other_side(pytester: pytest.Pytester) -> None:
    # A real distribution on the inner run's sys.path registers the two connectors.
    info = pytester.path / "kit_sides-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kit_sides\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[ent_migrate.connectors]\nkitsink = kit_sides:Sink\nkittap = kit_sides:Tap\n", encoding="utf-8"
    )
    pytester.makepyfile(kit_sides=_ONE_SIDED, test_sides=_ONE_SIDED_TESTS)
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    out = result.stdout.str()
    sink = [line for line in out.splitlines() if "::TestSink::" in line]
    tap = [line for line in out.splitlines() if "::TestTap::" in line]
    assert sink
    assert tap
    assert all("PASSED" in line for line in sink + tap), out
    assert not any("test_source_" in line for line in sink)  # no source role, no source tests
    assert not any("test_target_delete" in line for line in sink)  # delete not declared
    assert any("test_round_trip[siblings]" in line for line in sink)
    assert not any("test_target_" in line for line in tap)
    assert any("test_round_trip[siblings]" in line for line in tap)
    assert not any("[mail" in line or "documents" in line for line in tap)  # cases it cannot carry
    result.assert_outcomes(passed=len(sink) + len(tap))
