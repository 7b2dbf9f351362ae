"""``python -m ent_migrate``: the same as the ``ent-migrate`` command."""

from __future__ import annotations

from ent_migrate.cli import main

if __name__ == "__main__":
    main()
