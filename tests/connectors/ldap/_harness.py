"""The kit harness of the ``ldap`` connector: every source and target is a fresh subtree of the session's
slapd (``tests/servers/slapd.py``), reached over verified LDAPS and bound as its admin."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import ClassVar

from ent_migrate.kit import Dataset, Endpoint, Harness
from ent_migrate.kit.harness import apply, operations
from ent_migrate.registry import open_connector
from tests.servers.slapd import SlapdServer

__all__ = ["LdapHarness"]


class LdapHarness(Harness):
    name = "ldap"
    #: set by the kit test module's autouse fixture (a harness is built with a tmp_path only)
    server: ClassVar[SlapdServer | None] = None

    def _endpoint(self, base: str) -> tuple[str, dict[str, object]]:
        assert self.server is not None, "the slapd fixture did not run"
        return (self.server.url(base), self.server.options())

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        # The directory is filled through the connector's target side; the source side is also checked
        # against a directory nobody but slapd wrote (the ESCO sample LDIF, test_sample_ldif.py).
        assert self.server is not None
        endpoint = self._endpoint(self.server.fresh_base(f"s-{uuid.uuid4().hex}"))
        with open_connector(f"ldap:{endpoint[0]}", endpoint[1]) as target:
            apply(target, operations(dataset.records), dataset.blobs)
        return f"ldap:{endpoint[0]}", endpoint[1]

    def target_spec(self, tmp_path: Path) -> Endpoint:
        assert self.server is not None
        name = f"t-{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path)).hex}"  # same tmp_path, same target
        endpoint = self._endpoint(self.server.fresh_base(name))
        return f"ldap:{endpoint[0]}", endpoint[1]
