"""The conformance kit against the reference ``memory`` connector (every role and capability).

Its harness ships in the kit (``ent_migrate.kit.memory``) because the round-trip suite also uses it as
the other side of source-only and target-only connectors; see docs/connector-kit.md for the template.
"""

from __future__ import annotations

from ent_migrate.kit import kit_tests
from ent_migrate.kit.memory import MemoryHarness

TestMemoryKit = kit_tests(MemoryHarness)
