"""``ldap`` — SDET LDAP directories as a source and a target, over verified TLS (see connector.py)."""

from __future__ import annotations

from ent_migrate.connectors.ldap.connector import LdapConnector, LdapOptions

__all__ = ["LdapConnector", "LdapOptions"]
