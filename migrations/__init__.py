"""Alembic environment and numbered revisions, installed as ``ent_migrate.migrations``."""
