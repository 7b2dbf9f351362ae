"""The mapping file (``mappings/ldap-sdet.toml``) and the translation of entries ↔ canonical records.

:func:`load_mapping` reads the built-in map and overlays the user's file, refusing unknown sections and
keys with the file and key named. :class:`Codec` turns one person/structure/group entry into records
(reading) and one record into the attribute values it owns (writing). Each canonical record owns a
disjoint set of values: a Person its identity attributes, a Function one ``ENTPersonFonctions`` value,
a Membership one link value, a Guardianship one ``ENTElevePersRelEleve`` value (+ the pupil's DN on the
guardian), so writing one never erases another's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.resources
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ldap.dn

from ent_migrate.errors import ConfigError, TerminalError
from ent_migrate.model import Function, Group, GroupKind, Guardianship, Membership, Person, Profile, Structure
from ent_migrate.problems import Problems

__all__ = ["BUILTIN", "Attrs", "Codec", "Entry", "LdapMapping", "dn_key", "load_mapping", "rdn"]

BUILTIN = "ldap-sdet.toml"
#: an entry as read: lower-case attribute name → values
Attrs = dict[str, list[str]]


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    dn: str
    attrs: Attrs
    where: str  # "people entry #12": a position, never the DN (it may hold names)

    def first(self, name: str) -> str:
        values = self.attrs.get(name.lower())
        return values[0] if values else ""

    def values(self, name: str) -> list[str]:
        return self.attrs.get(name.lower(), [])


@dataclasses.dataclass(frozen=True)
class LdapMapping:
    """The mapping file, as typed sections (``section[key]``)."""

    source: str
    bases: Mapping[str, str]
    filters: Mapping[str, str]
    rdn: Mapping[str, Any]
    structure: Mapping[str, Any]
    person: Mapping[str, str]
    group: Mapping[str, Any]
    links: Mapping[str, str]
    profiles: Mapping[str, Any]

    def profile_of_code(self) -> dict[str, Profile]:
        return {code.lower(): Profile(p) for code, p in self.profiles["codes"].items()}


def _read_toml(path: Path | None) -> tuple[dict[str, Any], str]:
    if path is None:
        text = importlib.resources.files("ent_migrate.mappings").joinpath(BUILTIN).read_text(encoding="utf-8")
        return tomllib.loads(text), f"mappings/{BUILTIN}"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), str(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the LDAP mapping file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _overlay(base: dict[str, Any], extra: Mapping[str, Any], where: str, prefix: str = "") -> None:
    for key, value in extra.items():
        name = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(
                f"{where}: unknown key [{prefix.rstrip('.')}] {key}" if prefix else f"{where}: unknown section [{key}]"
            )
        if isinstance(base[key], dict) and name not in ("profiles.codes",):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [{name}] must be a table")
            _overlay(base[key], value, where, f"{name}.")
        elif isinstance(base[key], dict):  # profiles.codes: a whole table, replaced
            if not isinstance(value, dict) or not all(v in set(Profile) for v in value.values()):
                raise ConfigError(f"{where}: [{name}] maps codes to one of {', '.join(Profile)}")
            base[key] = dict(value)
        else:
            if type(value) is not type(base[key]):
                raise ConfigError(f"{where}: {name} must be {type(base[key]).__name__}, not {type(value).__name__}")
            base[key] = value


def load_mapping(path: str | None = None) -> LdapMapping:
    """The built-in SDET map, with *path*'s keys (if any) replacing the defaults."""
    data, where = _read_toml(None)
    if path:
        extra, where = _read_toml(Path(path))
        _overlay(data, extra, where)
    if data["person"]["structure_values"] not in ("dn", "uai"):
        raise ConfigError(f'{where}: person.structure_values must be "dn" or "uai"')
    order = data["profiles"]["order"]
    if sorted(order) != sorted(Profile):
        raise ConfigError(f"{where}: profiles.order must list each of {', '.join(Profile)} once")
    return LdapMapping(source=where, **data)


# -- DN helpers ------------------------------------------------------------------------------------
def rdn(attribute: str, value: str) -> str:
    """One escaped RDN (RFC 4514: ``,+"\\<>;=``, a leading ``#`` or space, a trailing space, NUL)."""
    return str(ldap.dn.dn2str([[(attribute, value, 1)]]))


def dn_key(dn: str) -> str:
    """A DN in a comparable form (attribute types and values lower-cased, escapes resolved)."""
    try:
        parts = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        return dn.strip().lower()
    return ",".join("+".join(sorted(f"{a.lower()}={v.lower()}" for a, v, _ in rdn_)) for rdn_ in parts)


def first_rdn(dn: str) -> tuple[str, str] | None:
    """(attribute, value) of the first RDN when it is single-valued."""
    try:
        parts = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        return None
    if not parts or len(parts[0]) != 1:
        return None
    attribute, value, _ = parts[0][0]
    return attribute, value


def _no_dollar(value: str, what: str) -> str:
    if "$" in value:
        raise TerminalError(f"{what} holds a '$', the SDET field separator: the value cannot be written")
    return value


def _date_text(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def _parse_date(text: str) -> dt.date:
    day, month, year = text.strip().split("/")
    return dt.date(int(year), int(month), int(day))


class Codec:
    """Entries ↔ records for one mapping and one base DN."""

    def __init__(self, mapping: LdapMapping, base_dn: str, problems: Problems) -> None:
        self.m = mapping
        self.base_dn = base_dn
        self.problems = problems
        self.codes = mapping.profile_of_code()
        self.order = [Profile(p) for p in mapping.profiles["order"]]
        #: dn_key(structure DN) → UAI, filled by :meth:`structure`
        self.uai_of_dn: dict[str, str] = {}
        #: dn_key(person DN) → person id, filled by :meth:`remember_person`
        self.id_of_dn: dict[str, str] = {}
        #: raw structure reference → UAI: a directory names a handful of structures in millions of values
        self._refs: dict[str, str | None] = {}

    def quiet(self) -> Codec:
        """The same codec (sharing its DN maps) reporting into a scratch collector: writers parse the
        values they replace, and a reader's problems are not theirs."""
        other = Codec(self.m, self.base_dn, Problems())
        other.uai_of_dn, other.id_of_dn = self.uai_of_dn, self.id_of_dn
        return other

    # -- DNs --------------------------------------------------------------------------------------
    def base(self, kind: str) -> str:
        relative = self.m.bases[kind]
        return f"{relative},{self.base_dn}" if relative else self.base_dn

    def structure_dn(self, uai: str) -> str:
        return f"{rdn(self.m.rdn['structure'], uai)},{self.base('structures')}"

    def person_dn(self, person_id: str) -> str:
        return f"{rdn(self.m.rdn['person'], person_id)},{self.base('people')}"

    def group_dn(self, key: str) -> str:
        return f"{rdn(self.m.rdn['group'], key)},{self.base('groups')}"

    def uai_from_ref(self, ref: str) -> str | None:
        """The UAI a structure reference (a DN, or a UAI with ``structure_values = "uai"``) names."""
        try:
            return self._refs[ref]
        except KeyError:
            pass
        found = self._uai_from_ref(ref)
        if found is not None:  # unknown ones are looked up again: the structure may be read later
            self._refs[ref] = found
        return found

    def _uai_from_ref(self, ref: str) -> str | None:
        ref = ref.strip()
        if self.m.person["structure_values"] == "uai":
            return ref.upper() or None
        found = self.uai_of_dn.get(dn_key(ref))
        if found is None:  # not read (a target written link by link): our own DN scheme says it
            parsed = first_rdn(ref)
            if (
                parsed
                and parsed[0].lower() == self.m.rdn["structure"].lower()
                and self.m.rdn["structure"].lower() == self.m.structure["uai"].lower()
            ):
                found = parsed[1]
        return found

    def person_from_dn(self, dn: str) -> str | None:
        found = self.id_of_dn.get(dn_key(dn))
        if found is None:
            parsed = first_rdn(dn)
            if parsed and parsed[0].lower() == self.m.rdn["person"].lower() == self.m.person["id"].lower():
                found = parsed[1]
        return found

    # -- structures -------------------------------------------------------------------------------
    def structure_attributes(self) -> list[str]:
        s = self.m.structure
        return [a for a in (s["uai"], s["name"], s["type"], s["jointure"], s["city"]) if a]

    def structure(self, entry: Entry) -> Structure | None:
        s = self.m.structure
        uai = entry.first(s["uai"]).strip().upper()
        if not uai:
            self.problems.add("uai.missing", entry.where, s["uai"])
            return None
        self.uai_of_dn[dn_key(entry.dn)] = uai
        return Structure(
            uai=uai,
            name=entry.first(s["name"]),
            type=entry.first(s["type"]),
            jointure=entry.first(s["jointure"]) or None,
            city=entry.first(s["city"]) or None,
        )

    def structure_values(self, record: Structure) -> dict[str, list[str]]:
        s = self.m.structure
        out = {
            s["uai"]: [record.uai],
            s["name"]: [record.name],
            s["type"]: [record.type],
            s["jointure"]: [record.jointure or ""],
            s["city"]: [record.city or ""],
        }
        # organizationalUnit requires ou: the name, or the UAI for a structure without one
        out["ou"] = [record.name or record.uai]
        return _clean(out)

    # -- people -----------------------------------------------------------------------------------
    def person_attributes(self) -> list[str]:
        p = self.m.person
        names = [
            p[k]
            for k in (
                "id",
                "last_name",
                "first_name",
                "birth_name",
                "birth_date",
                "ine",
                "emails",
                "structures",
                "login",
                "other_first_names",
                "civility",
                "source_ids",
                "disabled",
                "functions",
            )
        ]
        return [n for n in [*names, self.m.profiles["attribute"], "objectClass"] if n]

    def link_attributes(self) -> list[str]:
        return [v for v in self.m.links.values() if v]

    def profile(self, entry: Entry) -> Profile | None:
        found = {self.codes[c.lower()] for c in entry.values(self.m.profiles["attribute"]) if c.lower() in self.codes}
        if not found:  # no known code: the auxiliary classes say it
            classes = {c.lower() for c in entry.values("objectClass")}
            for profile, wanted in self.m.profiles["object_classes"].items():
                if all(c.lower() in classes for c in wanted):
                    found.add(Profile(profile))
        for profile in self.order:
            if profile in found:
                return profile
        return None

    def remember_person(self, entry: Entry) -> str | None:
        """The entry's person id, remembered by DN (for the DNs a guardian's entry lists)."""
        pid = entry.first(self.m.person["id"])
        if pid:
            self.id_of_dn[dn_key(entry.dn)] = pid
        return pid or None

    def person(self, entry: Entry) -> Iterator[Person | Function]:
        p = self.m.person
        pid = entry.first(p["id"]) or None
        if pid is None:
            self.problems.add("record.missing-field", entry.where, p["id"])
            return
        profile = self.profile(entry)
        if profile is None:
            self.problems.add("record.missing-field", entry.where, self.m.profiles["attribute"])
            return
        last = entry.first(p["last_name"])
        if not last:
            self.problems.add("record.missing-field", entry.where, p["last_name"])
        birth = None
        if text := entry.first(p["birth_date"]).strip():
            try:
                birth = _parse_date(text)
            except ValueError:
                self.problems.add("date.invalid", entry.where, p["birth_date"])
        structures: list[str] = []
        for ref in entry.values(p["structures"]):
            uai = self.uai_from_ref(ref)
            if uai is None:
                self.problems.add("ref.dangling", entry.where, p["structures"])
            elif uai not in structures:
                structures.append(uai)
        ine = entry.first(p["ine"]).strip() or None
        if profile is Profile.STUDENT and ine is None and p["ine"]:
            self.problems.add("ine.missing", entry.where)
        birth_name = entry.first(p["birth_name"]) or None
        yield Person(
            id=pid,
            profile=profile,
            last_name=last,
            first_name=entry.first(p["first_name"]),
            birth_name=birth_name if birth_name != last else None,
            birth_date=birth,
            ine=ine,
            emails=tuple(entry.values(p["emails"])),
            structures=tuple(structures),
            login=entry.first(p["login"]) or None,
            other_first_names=tuple(entry.values(p["other_first_names"])),
            civility=entry.first(p["civility"]) or None,
            source_ids=tuple(entry.values(p["source_ids"])),
            active=entry.first(p["disabled"]).upper() != "TRUE",
        )
        seen: set[str] = set()
        for value in entry.values(p["functions"]):
            function = self.function(pid, value, entry.where)
            if function is not None and function.key not in seen:
                seen.add(function.key)
                yield function

    def person_values(self, record: Person, structure_ref: Any) -> dict[str, list[str]]:
        """The attributes a Person owns (empty lists clear them); *structure_ref* maps UAI → value."""
        p = self.m.person
        out = {
            p["id"]: [record.id],
            p["last_name"]: [record.last_name],
            p["first_name"]: [record.first_name],
            p["display_name"]: [" ".join(n for n in (record.first_name, record.last_name) if n) or record.id],
            p["birth_name"]: [record.birth_name or ""],
            p["birth_date"]: [_date_text(record.birth_date) if record.birth_date else ""],
            p["emails"]: list(record.emails),
            p["structures"]: [structure_ref(uai) for uai in record.structures],
            p["login"]: [record.login or ""],
            p["other_first_names"]: list(record.other_first_names),
            p["civility"]: [record.civility or ""],
            p["source_ids"]: list(record.source_ids),
            p["disabled"]: [] if record.active else ["TRUE"],
            self.m.profiles["attribute"]: list(self.m.profiles["write"][str(record.profile)]),
        }
        if record.ine or record.profile is Profile.STUDENT:
            out[p["ine"]] = [record.ine or ""]
        return _clean(out)

    def person_classes(self, record: Person) -> list[str]:
        classes = list(self.m.profiles["object_classes"][str(record.profile)])
        if record.ine and record.profile is not Profile.STUDENT:
            classes.extend(c for c in self.m.profiles["object_classes"]["student"] if c not in classes)
        return classes

    # -- functions --------------------------------------------------------------------------------
    def function(self, pid: str, value: str, where: str) -> Function | None:
        parts = value.split("$")
        if len(parts) < 2 or not parts[1].strip():
            self.problems.add("record.invalid", where, self.m.person["functions"])
            return None
        parts += [""] * (5 - len(parts))
        uai = self.uai_from_ref(parts[0])
        if uai is None:
            self.problems.add("ref.dangling", where, f"{self.m.person['functions']} structure")
            return None
        discipline = parts[3] or None
        label = (parts[4] if discipline else parts[2]) or None
        return Function(person_id=pid, uai=uai, code=parts[1].strip(), discipline=discipline, label=label)

    def function_value(self, record: Function, structure_ref: str) -> str:
        code = _no_dollar(record.code, "a function code")
        label = _no_dollar(record.label or "", "a function label")
        if record.discipline:
            return f"{structure_ref}${code}$${_no_dollar(record.discipline, 'a discipline')}${label}"
        return f"{structure_ref}${code}${label}$$"

    # -- groups -----------------------------------------------------------------------------------
    def group_attributes(self) -> list[str]:
        g = self.m.group
        return [a for a in (g["uai"], g["code"], g["name"], g["level"], "objectClass") if a]

    def group(self, entry: Entry) -> Group | None:
        g = self.m.group
        uai, code = entry.first(g["uai"]).strip().upper(), entry.first(g["code"])
        if not uai:
            self.problems.add("uai.missing", entry.where, g["uai"])
            return None
        if not code:
            self.problems.add("record.missing-field", entry.where, g["code"])
            return None
        classes = {c.lower() for c in entry.values("objectClass")}
        kind = GroupKind.GROUP if g["group_object_class"].lower() in classes else GroupKind.CLASS
        return Group(
            uai=uai, code=code, group_kind=kind, name=entry.first(g["name"]), level=entry.first(g["level"]) or None
        )

    def group_values(self, record: Group) -> dict[str, list[str]]:
        g = self.m.group
        return _clean(
            {
                self.m.rdn["group"]: [record.key],
                g["uai"]: [record.uai],
                g["code"]: [record.code],
                g["name"]: [record.name],
                g["level"]: [record.level or ""],
            }
        )

    def group_class(self, kind: GroupKind) -> str:
        return str(self.m.group["group_object_class" if kind is GroupKind.GROUP else "class_object_class"])

    # -- memberships ------------------------------------------------------------------------------
    def link_attribute(self, profile: Profile | None, kind: GroupKind, subject: bool) -> str:
        who = "student" if profile is Profile.STUDENT else "teacher"
        name = f"{who}_{'group' if kind is GroupKind.GROUP else 'class'}"
        if subject and who == "teacher":
            name += "_subject"
        return self.m.links[name]

    def membership_value(self, record: Membership, structure_ref: str) -> str:
        value = f"{structure_ref}${_no_dollar(record.group_code, 'a group code')}"
        return f"{value}${_no_dollar(record.subject, 'a subject')}" if record.subject is not None else value

    def membership(self, pid: str, attribute: str, value: str, where: str) -> Membership | None:
        """One ``<structure DN>$code[$subject]`` link value as a Membership."""
        parts = value.split("$")
        if len(parts) < 2 or not parts[1]:
            self.problems.add("record.invalid", where, attribute)
            return None
        uai = self.uai_from_ref(parts[0])
        if uai is None:
            self.problems.add("ref.dangling", where, f"{attribute} structure")
            return None
        subject = "$".join(parts[2:]) if len(parts) > 2 else None
        return Membership(person_id=pid, uai=uai, group_code=parts[1], subject=subject)

    def memberships(self, pid: str, entry: Entry) -> Iterator[tuple[Membership, GroupKind]]:
        """Memberships of a person entry, with the kind of group each link names (implied groups)."""
        links = self.m.links
        seen: set[str] = set()
        covered: set[str] = set()
        order = (
            ("student_class", GroupKind.CLASS),
            ("student_group", GroupKind.GROUP),
            ("teacher_class_subject", GroupKind.CLASS),
            ("teacher_group_subject", GroupKind.GROUP),
            ("teacher_class", GroupKind.CLASS),
            ("teacher_group", GroupKind.GROUP),
        )
        for name, kind in order:
            plain_teacher = name in ("teacher_class", "teacher_group")
            for value in entry.values(links[name]):
                membership = self.membership(pid, links[name], value, entry.where)
                if membership is None:
                    continue
                group = f"{membership.uai}${membership.group_code}"
                # A class taught with a subject is listed in both ENTAuxEnsClasses and …Matieres (AAF):
                # the plain value only stands for itself when no subject value covers that class.
                if plain_teacher and group in covered:
                    continue
                if name.endswith("_subject"):
                    covered.add(group)
                if membership.key not in seen:
                    seen.add(membership.key)
                    yield membership, kind

    # -- guardianships ----------------------------------------------------------------------------
    def guardianship_value(self, record: Guardianship) -> str:
        legal = record.legal_level
        resp, contact = {None: ("", ""), 0: ("0", "0"), 1: ("1", "0"), 2: ("2", "0"), 3: ("0", "1")}.get(
            legal, (str(legal), "0")
        )
        kinship = _no_dollar(record.kinship or "", "a kinship code")
        return f"{record.guardian_id}${kinship}$${resp}${contact}$"

    def guardianships(self, pid: str, entry: Entry) -> Iterator[Guardianship]:
        """``guardian$kinship$financial$legal$contact$payment`` values of a pupil (the guardian id may
        itself hold '$', as académie-prefixed jointures do: the five flags are split from the right)."""
        attribute = self.m.links["pupil_guardians"]
        links: dict[str, Guardianship] = {}
        for value in entry.values(attribute):
            parts = value.rsplit("$", 5)
            if len(parts) < 2 or not parts[0]:
                self.problems.add("record.invalid", entry.where, attribute)
                continue
            parts += [""] * (6 - len(parts))
            gid, kinship, resp, contact = parts[0], parts[1], parts[3].strip(), parts[4].strip()
            legal = int(resp) if resp in ("1", "2") else 3 if contact == "1" else 0 if (resp or contact) else None
            link = links.get(gid)
            if link is None or (legal and (not link.legal_level or legal < link.legal_level)):
                # the same parent listed twice with other flags: the strongest responsibility counts
                links[gid] = Guardianship(guardian_id=gid, student_id=pid, legal_level=legal, kinship=kinship or None)
        yield from links.values()


def _clean(values: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Drop unmapped attributes ("") and empty values (LDAP has no empty Directory String)."""
    return {name: [v for v in vs if v != ""] for name, vs in values.items() if name}
