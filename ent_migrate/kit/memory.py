"""The harness of the reference ``memory`` connector.

The memory connector's own kit test file uses it, and the round-trip suite uses it to play the side
(source or target) that a source-only or target-only connector cannot play itself.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from ent_migrate.kit.dataset import Dataset
from ent_migrate.kit.harness import Endpoint, Harness
from ent_migrate.model import Document, Message, Production

__all__ = ["MemoryHarness"]


class MemoryHarness(Harness):
    name = "memory"

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        # A fresh store per call: two sources in one test never share records.
        return self.update_source(f"memory:source-{uuid.uuid4().hex}", dataset, tmp_path)

    def update_source(self, endpoint: Endpoint, dataset: Dataset, tmp_path: Path) -> Endpoint:
        # In place, record by record: a resumed or re-read source is the same store, changed.
        from ent_migrate.connectors.memory import MemoryConnector  # the kit must import without it

        spec = endpoint if isinstance(endpoint, str) else endpoint[0]
        store = MemoryConnector.named_store(spec.partition(":")[2])
        wanted = {(r.kind, r.key): r for r in dataset.records}
        for kind, bucket in store.records.items():
            for key in [k for k in bucket if (kind, k) not in wanted]:
                store.remove(kind, key)
        for (kind, key), record in wanted.items():
            if store.records[kind].get(key) != record:
                blob = dataset.blobs[record.sha256] if isinstance(record, Message | Document | Production) else None
                store.put(record, blob)
        return endpoint

    def delta_source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        spec = self.source_spec(dataset, tmp_path)
        return (spec if isinstance(spec, str) else spec[0], {"partial": True})

    def target_spec(self, tmp_path: Path) -> Endpoint:
        # Named after tmp_path: called again with the same folder, it is the same target (resume).
        return f"memory:target-{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path)).hex}"
