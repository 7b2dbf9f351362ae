"""Built-in connectors, installed as ``ent_migrate.connectors``."""

# This folder sits at the top of the checkout but is a part of ent_migrate (through the
# ent_migrate/connectors symlink). Imported by its bare name it would be a second copy of every module (a
# second MemoryConnector with its own stores): refuse that, clearly.
if __name__ != "ent_migrate.connectors":
    raise ImportError(
        f"import ent_migrate.connectors, not {__name__}: this folder is a part of the ent_migrate package"
    )
