"""The conformance kit against the ``maildir`` connector (source and target, read-back)."""

from __future__ import annotations

from pathlib import Path

from ent_migrate.kit import Endpoint, kit_tests
from tests.connectors._mail_harness import MailHarness


class MaildirHarness(MailHarness):
    name = "maildir"
    carries_flags = True

    def endpoint(self, folder: Path) -> Endpoint:
        return (f"maildir:{folder}", {"durable": False})


TestMaildirKit = kit_tests(MaildirHarness)
