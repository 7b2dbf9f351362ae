"""The conformance kit against the ``mbox`` connector (source and target, read-back)."""

from __future__ import annotations

from pathlib import Path

from ent_migrate.kit import Endpoint, kit_tests
from tests.connectors._mail_harness import MailHarness


class MboxHarness(MailHarness):
    name = "mbox"
    carries_flags = False

    def endpoint(self, folder: Path) -> Endpoint:
        return (f"mbox:{folder}", {"durable": False})


TestMboxKit = kit_tests(MboxHarness)
