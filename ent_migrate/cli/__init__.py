"""The ``ent-migrate`` command line (Typer + Rich)."""

from __future__ import annotations

from ent_migrate.cli.app import app, main

__all__ = ["app", "main"]
