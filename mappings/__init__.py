"""Declarative mappings shipped with the tool, installed as ``ent_migrate.mappings``."""
