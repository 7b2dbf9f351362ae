"""What an Edifice (ODE / entcore) user archive looks like, shared by the reader and the fixture writer.

One archive per user: a zip whose single root folder is ``<exportId>/`` holding ``Manifest.json``
(application key -> ``{"version", "folder"}``), ``archive.signature`` and one folder per application,
named by its localised (French) title with accents stripped. The canonical module names are the ones
of :class:`ent_migrate.audit.evidence.ModuleInventory`.

Signature scheme, verified against entcore's own source: ``archive/src/main/java/org/entcore/archive/
services/impl/FileSystemExportService.java`` (``signExport``) and ``DefaultImportService.java``
(``verifyImport``), which call ``RSA.signFile`` / ``RSA.verifyFile`` of edificeio/web-utils
(``src/main/java/fr/wseduc/webutils/security/RSA.java``, ``collectFiles``). ``archive.signature`` is a
compact JSON object, top-level entry name (every file and folder of ``<exportId>/`` but the signature
itself, written last) -> base64 ``SHA256withRSA`` (RSA PKCS#1 v1.5 over SHA-256) of a byte stream:

- a file: its bytes;
- a folder: its name (UTF-8), then each child sorted by name (Java ``String`` order: UTF-16 code
  units), a sub-folder recursively the same way, a file by its bytes alone — file names are not
  signed, so a renamed file keeps a valid signature, but changed, added or removed bytes break it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

__all__ = ["MANIFEST", "MODULES", "SIGNATURE", "entry_digest", "signing_order"]

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


def _java_key(path: str) -> tuple[bytes, ...]:
    # Java compares names by UTF-16 code unit; big-endian UTF-16 bytes compare the same way (Python's
    # str order, by code point, differs for astral characters against U+E000..U+FFFF).
    return tuple(part.encode("utf-16-be") for part in path.split("/"))


def signing_order(files: Iterable[str], dirs: Iterable[str] = ()) -> list[tuple[str, bool]]:
    """(path, is_folder) of a folder's content in the order entcore streams it to the signature: a
    depth-first walk, each folder's children by name. *files* and *dirs* are relative to the folder;
    the folders holding a file are implied, *dirs* adds empty ones."""
    nodes: dict[str, bool] = {}
    for path, is_dir in [*((d.strip("/"), True) for d in dirs), *((f, False) for f in files)]:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            nodes["/".join(parts[:depth])] = True
        if path:
            nodes.setdefault(path, is_dir)
    # pre-order of a tree whose siblings are sorted = the order of the component tuples
    return sorted(nodes.items(), key=lambda node: _java_key(node[0]))


def entry_digest(
    name: str, read: Callable[[str], bytes], files: Iterable[str] = (), *, folder: bool, dirs: Iterable[str] = ()
) -> bytes:
    """The SHA-256 of what entcore signs for the top-level entry *name*: ``read`` gives a file's bytes
    by its path under ``<exportId>/``; *files* (and empty *dirs*) of a folder are relative to it.
    Verify it as a prehashed SHA-256 PKCS#1 v1.5 signature: files are read one at a time."""
    digest = hashlib.sha256()
    if not folder:
        digest.update(read(name))
        return digest.digest()
    digest.update(name.encode())
    for path, is_dir in signing_order(files, dirs):
        digest.update(path.rsplit("/", 1)[-1].encode() if is_dir else read(f"{name}/{path}"))
    return digest.digest()
