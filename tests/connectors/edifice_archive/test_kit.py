"""The conformance kit against ``edifice-archive`` (a source): each case written as Edifice user archives
by the connector's own fixture writer (one per person, document or message owner), read back.

What an entcore export can hold decides ``expected``: a person is their id and the display name
entcore shows (``ownerName``, ``displayNames``: only in an archive with a document or a message of
theirs), whole in ``last_name``, with the profile the options give; structures and functions are not
in a user archive. Messages are *built* by the conversation connector from the ``Messagerie`` tables
(new Message-ID, multipart body, no flags but ``\\Seen``), so a message is expected as a first read
gave it, as in tests/connectors/conversation/test_kit.py; the kit checks the rest. Productions are not
carried by the writer from a case (it makes its own, tested in test_archive.py).
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import ClassVar

from ent_migrate.connectors.edifice_archive.writer import display_name, write_edifice_archives
from ent_migrate.kit import Dataset, Endpoint, Harness, kit_tests
from ent_migrate.model import Document, Mailbox, Message, Person, Record
from ent_migrate.registry import open_connector


class EdificeArchiveHarness(Harness):
    name = "edifice-archive"
    read: ClassVar[dict[str, Record]] = {}  # case key -> what a first read gave for it
    named: ClassVar[set[str]] = set()  # owners whose archive holds their display name

    def source_spec(self, dataset: Dataset, tmp_path: Path) -> Endpoint:
        items = [(r, dataset.blobs[r.sha256] if isinstance(r, Document | Message) else None) for r in dataset.records]
        out = tmp_path / f"archives-{uuid.uuid4().hex}"
        write_edifice_archives(items, out, productions=False, everyone=True)
        people = [r for r in dataset.records if isinstance(r, Person)]
        endpoint = f"edifice-archive:{out}", {"profiles": {p.id: str(p.profile) for p in people}}
        self.named.update(r.owner_id for r in dataset.records if isinstance(r, Document | Message))
        built: dict[tuple[str, str], list[Record]] = {}
        with open_connector(*endpoint) as source:
            for record in source.read_mail():
                if isinstance(record, Message):
                    built.setdefault((record.owner_id, record.mailbox), []).append(record)
                else:
                    self.read[record.key] = record
        for case in dataset.records:  # the writer keeps a folder's messages in their order
            if isinstance(case, Message):
                self.read[case.key] = built[(case.owner_id, case.mailbox)].pop(0)
        return endpoint

    def expected(self, record: Record) -> Record | None:
        if isinstance(record, Person):
            display = display_name(record) if record.id in self.named else ""
            return Person(id=record.id, profile=record.profile, last_name=display, first_name="")
        if isinstance(record, Mailbox | Message):
            return self.read.get(record.key, record)
        if not isinstance(record, Document):
            return None  # structures and functions: not in a user's archive
        modified = record.modified
        if modified is not None:  # the archive keeps milliseconds, as entcore does
            modified = modified.replace(microsecond=modified.microsecond // 1000 * 1000)
        return dataclasses.replace(record, modified=modified)


TestEdificeArchiveKit = kit_tests(EdificeArchiveHarness)
