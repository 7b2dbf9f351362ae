"""The vendor profiles of the ``rest`` connector, by name. A new vendor is one module here (copy
``scim.py``) and one line in :data:`PROFILES`."""

from __future__ import annotations

from ent_migrate.connectors.rest.profiles.base import Profile
from ent_migrate.connectors.rest.profiles.edifice import EdificeProfile
from ent_migrate.connectors.rest.profiles.scim import ScimProfile

__all__ = ["PROFILES", "Profile", "profile_class"]

PROFILES: dict[str, type[Profile]] = {cls.name: cls for cls in (EdificeProfile, ScimProfile)}


def profile_class(name: str) -> type[Profile]:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"no REST profile {name!r} (known: {', '.join(sorted(PROFILES))})") from None
