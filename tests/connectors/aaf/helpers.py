"""Hand-written AAF snippets for reader tests (the fixture writer makes whole bundles)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ent_migrate.contract import Capability
from ent_migrate.model import Record
from ent_migrate.registry import open_connector

HEADER = '<?xml version="1.0" encoding="{encoding}"?>\n<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">\n'
_OPERATIONAL = {"EtabEducNat": "categorieStructure", "MatiereEducNat": "categorieMatiere", "MefEducNat": "categorieMef"}

Attrs = Mapping[str, str | Sequence[str]]


def request(category: str, ident: str, attrs: Attrs, op: str = "addRequest") -> str:
    """One request; each attribute value is a string or a list of values ("" → ``<value/>``)."""
    name = _OPERATIONAL.get(category, "categoriePersonne")
    value = "MatEducNat" if category == "MatiereEducNat" else category
    out = [
        f"<{op}>\n<operationalAttributes><attr name={quoteattr(name)}><value>{value}</value></attr>"
        f"</operationalAttributes>\n<identifier><id>{escape(ident)}</id></identifier>\n"
    ]
    if op != "deleteRequest":
        inner, item, extra = (
            ("modifications", "modification", ' operation="replace"')
            if op == "modifyRequest"
            else ("attributes", "attr", "")
        )
        out.append(f"<{inner}>\n")
        for key, values in attrs.items():
            items = [values] if isinstance(values, str) else list(values)
            body = "".join(f"<value>{escape(v)}</value>" if v else "<value/>" for v in items) or "<value/>"
            out.append(f"<{item} name={quoteattr(key)}{extra}>{body}</{item}>\n")
        out.append(f"</{inner}>\n")
    out.append(f"</{op}>\n")
    return "".join(out)


def document(requests: Iterable[str], encoding: str = "UTF-8") -> bytes:
    body = HEADER.format(encoding=encoding) + "<ficAlimMENESR>\n" + "".join(requests) + "</ficAlimMENESR>\n"
    return body.encode("utf-8" if encoding.upper() == "UTF-8" else encoding)


def etab(
    jointure: str = "10",
    uai: str = "0350001L",
    classes: Sequence[str] = ("6A$6EME A",),
    groups: Sequence[str] = (),
    **extra: str | Sequence[str],
) -> str:
    attrs: dict[str, str | Sequence[str]] = {
        "ENTStructureJointure": jointure,
        "ENTStructureUAI": uai,
        "ENTStructureNomCourant": "CLG$VICTOR HUGO$RENNES",
        "ENTStructureTypeStruct": "COLLEGE",
        "l": "RENNES",
        "ENTStructureClasses": list(classes),
        "ENTStructureGroupes": list(groups),
    }
    attrs.update(extra)
    return request("EtabEducNat", jointure, attrs)


def pupil(
    ident: str,
    *,
    ine: str = "",
    struct: str = "10",
    classes: Sequence[str] = ("10$6A",),
    parents: Sequence[str] = (),
    op: str = "addRequest",
    **extra: str | Sequence[str],
) -> str:
    attrs: dict[str, str | Sequence[str]] = {
        "ENTPersonJointure": ident,
        "ENTEleveINE": ine or f"{int(ident):09d}AB"[-11:],
        "ENTPersonDateNaissance": "01/09/2013",
        "sn": "ELEVE",
        "givenName": "Prenom",
        "personalTitle": "M.",
        "ENTPersonStructRattach": struct,
        "ENTElevePersRelEleve": list(parents),
        "ENTEleveClasses": list(classes),
        "ENTEleveGroupes": [],
    }
    attrs.update(extra)
    return request("Eleve", ident, {k: v for k, v in attrs.items() if v is not None}, op)


def guardian(ident: str, **extra: str | Sequence[str]) -> str:
    attrs: dict[str, str | Sequence[str]] = {
        "ENTPersonJointure": ident,
        "sn": "PARENT",
        "givenName": "Prenom",
        "personalTitle": "Mme",
        "ENTPersonDateNaissance": "02/03/1980",
    }
    attrs.update(extra)
    return request("PersRelEleve", ident, attrs)


def staff(ident: str, functions: Sequence[str], struct: str = "10", **extra: str | Sequence[str]) -> str:
    attrs: dict[str, str | Sequence[str]] = {
        "ENTPersonJointure": ident,
        "sn": "PROF",
        "givenName": "Prenom",
        "personalTitle": "Mme",
        "ENTPersonDateNaissance": "02/03/1975",
        "ENTPersonStructRattach": struct,
        "ENTPersonFonctions": list(functions),
    }
    attrs.update(extra)
    return request("PersEducNat", ident, attrs)


def write_bundle(folder: Path, files: Mapping[str, bytes], *, kind: str = "Complet") -> Path:
    """Write ``{category: bytes}`` (or ``{category_page: bytes}``) as AAF-named files."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, data in files.items():
        category, _, page = key.partition("_")
        (folder / f"ENT2D_{kind}_20240916_{category}_{int(page or 0):04d}.xml").write_bytes(data)
    return folder


def read_all(
    location: Path, known: Callable[[str], bool] | Collection[str] | None = None, **options: object
) -> tuple[list[Record], list[dict[str, object]]]:
    """Every record and problem of a bundle; *known* is the engine's known-people lookup (or a set of ids)."""
    connector = open_connector(f"aaf:{location}", options)
    if known is not None:
        connector.use_known_people(known if callable(known) else set(known).__contains__)
    records: list[Record] = []
    for capability in (Capability.ACCOUNTS, Capability.GROUPS, Capability.RELATIONS):
        records.extend(connector.read(capability))
    return records, connector.problems.to_list()


def problem(problems: list[dict[str, object]], code: str) -> dict[str, object]:
    found = [p for p in problems if p["code"] == code]
    assert found, f"no {code} in {[p['code'] for p in problems]}"
    return found[0]


def line_of(data: bytes, index: int, tag: bytes = b"<addRequest>") -> int:
    """The line where the *index*-th (0-based) request starts."""
    position = -1
    for _ in range(index + 1):
        position = data.index(tag, position + 1)
    return data.count(b"\n", 0, position) + 1
