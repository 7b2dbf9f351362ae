"""The aaf and siecle readers vs a bare ``lxml.etree.iterparse`` + clear pass over the same files.

Our side: every record the connector yields (accounts, groups, relations), with its safety checks,
``$``-decoding and problem tracking. The raw limit: iterparse every XML file of the export, clearing
each element — no decoding, no records.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from ent_migrate.contract import DATA_CAPABILITIES
from ent_migrate.registry import load_registry, open_connector

__all__ = ["bare_iterparse", "read_aaf", "read_siecle"]

load_registry()  # imports and entry points are loaded before the timer starts, for both sides


def bare_iterparse(folder: str) -> int:
    n = 0
    for path in sorted(Path(folder).rglob("*.xml")):
        for _, element in etree.iterparse(
            str(path), events=("end",), resolve_entities=False, no_network=True, load_dtd=False
        ):
            n += 1
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                parent = element.getparent()
                if parent is None:
                    break
                del parent[0]
    return n


def _read(spec: str) -> int:
    n = 0
    with open_connector(spec, {}) as connector:
        for capability in DATA_CAPABILITIES:
            if capability in connector.capabilities:
                for _ in connector.read(capability):
                    n += 1
    return n


def read_aaf(folder: str) -> int:
    return _read(f"aaf:{folder}")


def read_siecle(folder: str) -> int:
    return _read(f"siecle:{folder}")
