"""Package layout that pyproject.toml alone cannot express.

connectors/, migrations/, mappings/ and fixtures/ sit at the top of the checkout (the product card's
layout) but are installed *under* ``ent_migrate``: generic top-level names such as ``connectors`` or
``migrations`` would clash with other distributions installed in the same environment.
"""

from __future__ import annotations

from setuptools import find_packages, setup

MAPPED = {
    "connectors": "ent_migrate.connectors",
    "migrations": "ent_migrate.migrations",
    "mappings": "ent_migrate.mappings",
    "fixtures": "ent_migrate.fixtures",
}

packages = find_packages(include=["ent_migrate", "ent_migrate.*"])
package_dir = {"ent_migrate": "ent_migrate"}
for folder, name in MAPPED.items():
    package_dir[name] = folder
    packages.append(name)
    packages.extend(f"{name}.{sub}" for sub in find_packages(folder))

setup(packages=packages, package_dir=package_dir)
