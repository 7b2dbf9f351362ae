"""``rest`` — vendor HTTP APIs (SCIM 2.0, Edifice/entcore) through one connector and a profile per vendor.

The connector core (``client.py``: httpx, verified TLS, faults turned into the engine's errors;
``auth.py``: OAuth2, Basic, bearer, session + XSRF) is shared; each vendor is a module under
``profiles/``. See docs/rest-connector.md.
"""

from __future__ import annotations

from ent_migrate.connectors.rest.connector import RestConnector, RestOptions

__all__ = ["RestConnector", "RestOptions"]
