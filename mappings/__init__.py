"""Declarative mappings shipped with the tool, installed as ``ent_migrate.mappings``."""

# This folder sits at the top of the checkout but is a part of ent_migrate (through the
# ent_migrate/mappings symlink). Imported by its bare name it would be a second copy of every module (a
# second MemoryConnector with its own stores): refuse that, clearly.
if __name__ != "ent_migrate.mappings":
    raise ImportError(f"import ent_migrate.mappings, not {__name__}: this folder is a part of the ent_migrate package")
