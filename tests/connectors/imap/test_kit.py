"""The conformance kit against the ``imap`` connector, on a real Dovecot (tests/servers/dovecot.py)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from ent_migrate.kit import Endpoint, kit_tests
from tests.connectors._mail_harness import MailHarness
from tests.servers.dovecot import DovecotServer


class ImapHarness(MailHarness):
    name = "imap"
    server: ClassVar[DovecotServer | None] = None
    accounts: ClassVar[dict[str, str]] = {}  # folder -> login: the same folder is the same mailbox

    def endpoint(self, folder: Path) -> Endpoint:
        assert self.server is not None, "the dovecot fixture did not run"
        login = self.accounts.get(str(folder)) or self.accounts.setdefault(str(folder), self.server.add_user()[0])
        users = {"kit-mail-1": login}
        return (
            f"imap://{self.server.host}:{self.server.ssl_port}",
            {
                "users": users,
                "master_user": self.server.master_user,
                "password": self.server.master_password,
                "ca_file": str(self.server.ca_file),
            },
        )


@pytest.fixture(autouse=True)
def _server(dovecot: DovecotServer) -> None:
    ImapHarness.server = dovecot


TestImapKit = kit_tests(ImapHarness)
