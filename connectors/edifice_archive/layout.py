"""What an Edifice (ODE / entcore) user archive looks like, shared by the reader and the fixture writer.

One archive per user: a zip whose single root folder is ``<exportId>/`` holding ``Manifest.json``
(application key -> ``{"version", "folder"}``), ``archive.signature`` and one folder per application,
named by its localised (French) title with accents stripped. The canonical module names are the ones
of :class:`ent_migrate.audit.evidence.ModuleInventory`.

Signature scheme (``archive.signature``): a JSON object, top-level entry name -> base64 RSA
PKCS#1 v1.5 / SHA-256 signature of that entry's digest. A file's digest is its SHA-256; a folder's is
the SHA-256 of its sorted ``relative/path NUL sha256hex LF`` lines, so a changed, added or removed
file anywhere in the folder breaks its entry's signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["MANIFEST", "MODULES", "SIGNATURE", "entry_digest"]

MANIFEST = "Manifest.json"
SIGNATURE = "archive.signature"

#: canonical module -> (entcore application key, folder name as the French export names it)
MODULES: dict[str, tuple[str, str]] = {
    "workspace": ("org.entcore.workspace", "Espace documentaire"),
    "conversation": ("org.entcore.conversation", "Messagerie"),
    "blog": ("org.entcore.blog", "Blog"),
    "wiki": ("net.atos.entng.wiki", "Wiki"),
    "pad": ("net.atos.entng.collaborativeeditor", "Pad"),
    "mindmap": ("net.atos.entng.mindmap", "Carte mentale"),
    "timeline": ("net.atos.entng.timelinegenerator", "Frise chronologique"),
    "wall": ("net.atos.entng.collaborativewall", "Mur collaboratif"),
    "calendar": ("net.atos.entng.calendar", "Agenda"),
}


def entry_digest(files: Iterable[tuple[str, bytes]], *, folder: bool) -> bytes:
    """The digest an ``archive.signature`` entry signs: *files* are (path relative to the entry, bytes)."""
    if not folder:
        ((_, data),) = list(files)
        return hashlib.sha256(data).digest()
    lines = sorted(f"{path}\0{hashlib.sha256(data).hexdigest()}\n" for path, data in files)
    return hashlib.sha256("".join(lines).encode()).digest()
