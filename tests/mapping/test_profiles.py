"""The SDET profile codes stay in the ldap connector's mapping (mappings/README.md says why): every
profile is read from both code schemes and written in both."""

from __future__ import annotations

import tomllib
from importlib import resources

from ent_migrate.model import Profile


def _sdet() -> dict[str, dict[str, object]]:
    data = tomllib.loads(resources.files("ent_migrate.mappings").joinpath("ldap-sdet.toml").read_text("utf-8"))
    profiles: dict[str, dict[str, object]] = data["profiles"]
    return profiles


def test_every_profile_is_read_from_both_schemes() -> None:
    codes = _sdet()["codes"]
    for profile in Profile:
        read = {code for code, p in codes.items() if p == profile}
        assert any(c.startswith("National_") and not c[9:].isdigit() for c in read), profile  # v4: National_ELV
        assert any(c[9:].isdigit() for c in read), profile  # v3: National_1...7


def test_every_profile_is_written_in_both_schemes_and_read_back_as_itself() -> None:
    codes, write = _sdet()["codes"], _sdet()["write"]
    for profile in Profile:
        written = write[str(profile)]
        assert isinstance(written, list), profile
        assert len(written) == 2, profile
        assert all(codes[c] == profile for c in written), profile
