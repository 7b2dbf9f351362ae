"""``memory`` — the reference connector: source and target, every capability, fault knobs.

It is the template a new connector copies (keep the order and names of ``connector.py``) and the
way to test retry and resume without a server.
"""

from __future__ import annotations

from ent_migrate.connectors.memory.connector import MemoryConnector, MemoryStore

__all__ = ["MemoryConnector", "MemoryStore"]
