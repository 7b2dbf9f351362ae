"""The conformance kit: one short test file runs the whole contract suite against a connector.

Like Meltano's SDK standard tests or rclone's fstests, the kit ships inside the package as a pytest
plugin (entry point ``pytest11: ent_migrate_kit``), so a third-party connector's test suite uses it
exactly as the built-in connectors do. A connector's kit test file is about ten lines::

    # tests/connectors/<name>/test_kit.py
    from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests

    class MyHarness(Harness):
        name = "my-connector"                            # the registered connector name

        def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
            ...   # put the dataset into a fresh source; return "name:location" or (spec, options)

        def target_spec(self, tmp_path: Path) -> Endpoint:
            ...   # a fresh empty target (the same one when called again with the same tmp_path)

    TestMyConnectorKit = kit_tests(MyHarness, xfail={"test_round_trip[mail_8bit]": "reason"})

The reference connector's harness is :class:`ent_migrate.kit.memory.MemoryHarness`.

Optional hooks: ``expected(record)`` says how a record looks after passing through the connector's
format (``None``: the format cannot carry it), or ``expect(records)`` the whole expected snapshot when
the format derives records from one another; ``update_source(endpoint, dataset, tmp_path)`` changes a
source in place, for the class-change test; `delta_source_spec` writes a delta source (delta connectors).

The suites (:mod:`ent_migrate.kit.suites`) only generate the tests that apply to the connector's
declared roles and capabilities, read from the registry:

- **source**: every record of each hostile case read back with the expected fingerprint, per data
  capability; two reads give the same ids and fingerprints; ``open_blob`` bytes hash to the record's
  SHA-256; ``blob_sha256`` is the real hash; a pupil's class change is seen by the second read;
  a delta source says it is partial (``is_partial``), a complete one that it is not.
- **target**: every write accepted (and read back when the target has ``read-back``); idempotent
  re-apply; ``delete`` removes; ``rules()`` is a ``TargetRules``; **resume** (half the operations, then
  all of them) reads back like one full apply.
- **round trip**: source → target → read back equals the source over every hostile case; the
  in-process ``memory`` connector plays the side a connector cannot.

Known failures are ``xfail`` (strict, with the reason) by test-id fragment, matched against the test
name with its parameters (e.g. ``"mail_8bit"`` or ``"test_source_open_blob[documents-documents]"``);
a fragment that matches no test is a collection error, so stale xfails do not pile up. There are no
skips.

Hostile cases live in ``ent_migrate/kit/cases/`` as JSON Lines of canonical dicts plus ``.eml`` and
``.html`` blobs and a recipe for a 25 MB document generated at test time (see
:mod:`ent_migrate.kit.dataset`). See also ``docs/connector-kit.md``.
"""

from __future__ import annotations

import pytest

# The suites are plain functions in this package: have pytest rewrite their asserts like a test module's.
pytest.register_assert_rewrite("ent_migrate.kit.suites")

from ent_migrate.kit.dataset import BlobSet, Dataset, case_names, load_case  # noqa: E402 - after the rewrite hook
from ent_migrate.kit.factory import kit_tests  # noqa: E402 - after the rewrite hook
from ent_migrate.kit.harness import Endpoint, Harness, Snapshot  # noqa: E402 - after the rewrite hook

__all__ = ["BlobSet", "Dataset", "Endpoint", "Harness", "Snapshot", "case_names", "kit_tests", "load_case"]
