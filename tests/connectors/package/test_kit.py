"""The conformance kit against the ``package`` connector, as a folder and as a zip (source and target)."""

from __future__ import annotations

import uuid
from pathlib import Path

from ent_migrate.connectors.package.fixture import write_package
from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests
from ent_migrate.model import Document, Message, Production


class PackageHarness(Harness):
    name = "package"
    suffix = ""

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        items = [
            (r, dataset.blobs[r.sha256] if isinstance(r, Message | Document | Production) else None)
            for r in dataset.records
        ]
        return f"package:{write_package(items, tmp_path / f'source-{uuid.uuid4().hex}{self.suffix}')}"

    def target_spec(self, tmp_path: Path) -> Endpoint:
        return (f"package:{tmp_path / f'target{self.suffix}'}", {"durable": False})


class ZipPackageHarness(PackageHarness):
    suffix = ".zip"


TestPackageKit = kit_tests(PackageHarness)
TestZipPackageKit = kit_tests(ZipPackageHarness)
