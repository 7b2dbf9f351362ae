"""Alembic environment and numbered revisions, installed as ``ent_migrate.migrations``."""

# This folder sits at the top of the checkout but is a part of ent_migrate (through the
# ent_migrate/migrations symlink). Imported by its bare name it would be a second copy of every module (a
# second MemoryConnector with its own stores): refuse that, clearly.
if __name__ != "ent_migrate.migrations":
    raise ImportError(
        f"import ent_migrate.migrations, not {__name__}: this folder is a part of the ent_migrate package"
    )
