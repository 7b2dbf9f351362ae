"""One parse of a bundle for every reader: records of the other capabilities are spooled to disk.

``read_accounts``, ``read_groups`` and ``read_relations`` each need the whole bundle (relations are
found while reading people, classes only once every structure and person is read). Parsing the
bundle once per reader tripled the cost, so the first reader's pass yields its own records and
spools the others' (:class:`RecordSpool`, an anonymous temporary file: memory stays flat); the
next readers stream them back. A spool is only kept once its pass ran to the end, with that pass's
problems, and only while the bundle's files are unchanged
(:func:`~ent_migrate.xmlsafe.export_signature`).
"""

from __future__ import annotations

import copy
import dataclasses
import operator
from collections.abc import Callable, Iterator
from typing import Any

from ent_migrate.contract import Capability
from ent_migrate.model import Function, Group, Guardianship, Membership, Person, Record, Structure
from ent_migrate.problems import Problems
from ent_migrate.xmlsafe import Spool

__all__ = ["KIND_OF", "CompletePass", "RecordSpool"]

#: which reader yields each record class
KIND_OF: dict[type[Record], Capability] = {
    Structure: Capability.ACCOUNTS,
    Person: Capability.ACCOUNTS,
    Function: Capability.ACCOUNTS,
    Group: Capability.GROUPS,
    Membership: Capability.RELATIONS,
    Guardianship: Capability.RELATIONS,
}
_CLASSES: tuple[type[Record], ...] = tuple(KIND_OF)
_INDEX = {cls: i for i, cls in enumerate(_CLASSES)}
_NAMES = [tuple(f.name for f in dataclasses.fields(cls)) for cls in _CLASSES]
# Every record class has several fields, so attrgetter returns a tuple of their values.
_GETTERS: list[Callable[[Any], tuple[Any, ...]]] = [operator.attrgetter(*names) for names in _NAMES]
# The slot descriptors of each field: a spooled record was built (and NFC-normalised) by the pass,
# so it is restored field by field the way pickle restores a slotted dataclass, without __init__.
_SETTERS: list[list[Callable[[Any, Any], None]]] = [
    [getattr(cls, name).__set__ for name in names] for cls, names in zip(_CLASSES, _NAMES, strict=True)
]


class RecordSpool:
    """Canonical records written once, streamed back any number of times (see :class:`Spool`)."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows = Spool()

    def append(self, record: Record) -> None:
        index = _INDEX[type(record)]
        self._rows.append((index, _GETTERS[index](record)))

    def __iter__(self) -> Iterator[Record]:
        new = object.__new__
        for index, values in self._rows:
            record = new(_CLASSES[index])
            for setter, value in zip(_SETTERS[index], values, strict=True):
                setter(record, value)
            yield record

    def __len__(self) -> int:
        return len(self._rows)

    def close(self) -> None:
        self._rows.close()


@dataclasses.dataclass
class CompletePass:
    """What a pass that ran to its end leaves for the next readers."""

    signature: tuple[object, ...]
    spools: dict[Capability, RecordSpool]
    problems: Problems

    def replay(self, capability: Capability) -> Iterator[Record]:
        yield from self.spools[capability]

    def problems_copy(self) -> Problems:
        # Each read hands out its own collector, as a fresh pass would: a caller adding to it
        # must not change what the next read reports.
        return copy.deepcopy(self.problems)

    def close(self) -> None:
        for spool in self.spools.values():
            spool.close()
