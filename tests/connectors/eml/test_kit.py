"""The conformance kit against the ``eml`` connector (source and target, read-back)."""

from __future__ import annotations

from pathlib import Path

from ent_migrate.kit import Endpoint, kit_tests
from tests.connectors._mail_harness import MailHarness


class EmlHarness(MailHarness):
    name = "eml"
    carries_flags = False

    def endpoint(self, folder: Path) -> Endpoint:
        return (f"eml:{folder}", {"durable": False})


TestEmlKit = kit_tests(EmlHarness)
