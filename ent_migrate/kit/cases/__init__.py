"""Hostile data cases of the conformance kit (data files; see ent_migrate.kit.dataset)."""
