"""Built-in connectors, installed as ``ent_migrate.connectors``."""
