"""Issue 11: our IMAP target vs a bare ``imaplib`` APPEND loop, on one private Dovecot, in the same run.

``python -m bench mail [COUNT]`` (default 20,000 messages). Messages of realistic sizes (mostly short text,
some with attachments, a few large ones) are generated once into ``bench/out/mail-COUNT/`` and read from
there by every side, so generation is never timed. Each side writes every message into the INBOX of its
own fresh account over IMAPS:

- ``bare``: ``imaplib`` ``APPEND`` of the bytes, one connection — the raw limit (measured first and
  last: the machine is shared, and the better of the two is the reference);
- ``ours-1``: the ``imap`` connector's ``write`` (content id, key, idempotency index, flags and
  INTERNALDATE, APPENDUID), one connection;
- ``ours-4``: the same with four threads (the engine's concurrency), four connections.

imapsync is not in the Debian registries (``apt-cache policy imapsync`` is empty), so it is not compared.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import imaplib
import io
import json
import random
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ent_migrate.contract import Action, Operation
from ent_migrate.errors import TransientError
from ent_migrate.mail import sha256_hex
from ent_migrate.model import Message
from ent_migrate.registry import load_registry, open_connector

__all__ = ["generate", "main"]

OUT = Path(__file__).resolve().parent / "out"
OWNER = "bench-owner"
WORDS = (
    "réunion",
    "parents",
    "classe",
    "sortie",
    "devoirs",
    "cantine",
    "bulletin",
    "absence",
    "projet",
    "musée",
    "piscine",
    "trimestre",
    "conseil",
    "école",
    "mercredi",
)


def _size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.80:
        return rng.randint(1_000, 12_000)  # a short text message
    if roll < 0.98:
        return rng.randint(12_000, 100_000)  # a document attached
    return rng.randint(100_000, 2_000_000)  # photos of the school trip


def _message(rng: random.Random, i: int) -> bytes:
    size = _size(rng)
    text = " ".join(rng.choice(WORDS) for _ in range(60)) + "\r\n"
    head = (
        f"Message-ID: <bench-{i}@example.org>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000"
        f"\r\nFrom: enseignant{i % 50}@example.org\r\nTo: parents{i % 300}@example.org\r\n"
        f"Subject: =?utf-8?q?R=C3=A9union_{i}?=\r\nMIME-Version: 1.0\r\n"
    )
    if size < 12_000:
        body = (text * (size // len(text) + 1))[:size]
        return (
            head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n"
        ).encode("utf-8")
    attachment = base64.encodebytes(rng.randbytes(size * 3 // 4)).replace(b"\n", b"\r\n")
    return (
        (
            head + 'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n--b0\r\n"
            'Content-Type: application/pdf; name="piece.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        ).encode("utf-8")
        + attachment
        + b"--b0--\r\n"
    )


def generate(count: int) -> Path:
    folder = OUT / f"mail-{count}"
    done = folder / "done"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    for i in range(count):
        (folder / f"{i:06d}.eml").write_bytes(_message(rng, i))
    done.touch()
    return folder


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))


def _bare(server: Any, login: str, password: str, folder: Path) -> tuple[int, int]:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    imap = imaplib.IMAP4_SSL(server.host, server.ssl_port, ssl_context=context)
    imap.login(login, password)
    n = size = 0
    for path in _files(folder):
        data = path.read_bytes()
        imap.append("INBOX", None, None, data)
        # imaplib keeps every APPENDUID response code forever and slows down as they pile up (1.6x at
        # 5,000); a sane bare client drops them, as IMAPClient does.
        imap.untagged_responses.clear()
        n, size = n + 1, size + len(data)
    imap.logout()
    return n, size


def _ours(server: Any, login: str, folder: Path, threads: int) -> tuple[int, int]:
    options = {
        "users": {OWNER: login},
        "master_user": server.master_user,
        "password": server.master_password,
        "ca_file": str(server.ca_file),
        "concurrency": threads,
    }
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with open_connector(f"imap://{server.host}:{server.ssl_port}", options) as target:

        def one(path: Path) -> int:
            data = path.read_bytes()
            record = Message(
                owner_id=OWNER,
                mailbox="INBOX",
                message_id=f"<bench-{path.stem}@example.org>",
                sha256=sha256_hex(data),
                size=len(data),
                flags=("\\Seen",),
                date=when,
            )
            op = Operation(str(uuid.uuid4()), Action.CREATE, record.kind, record.key, record)
            for attempt in range(5):  # as the engine does: a dropped connection is retried
                try:
                    target.write(op, io.BytesIO(data))
                    break
                except TransientError:
                    if attempt == 4:
                        raise
            return len(data)

        if threads == 1:
            sizes = [one(p) for p in _files(folder)]
        else:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                sizes = list(pool.map(one, _files(folder)))
    return len(sizes), sum(sizes)


def main(count: int = 20_000) -> list[dict[str, object]]:
    from tests.servers.dovecot import run_dovecot  # the test fixture's server, outside pytest

    load_registry()
    folder = generate(count)
    results: list[dict[str, object]] = []
    with run_dovecot() as server:
        bare_login, bare_password = server.add_user()
        again_login, again_password = server.add_user()
        sides: tuple[tuple[str, Callable[[], tuple[int, int]]], ...] = (
            ("bare", lambda: _bare(server, bare_login, bare_password, folder)),
            ("ours-1", lambda: _ours(server, server.add_user()[0], folder, 1)),
            ("ours-4", lambda: _ours(server, server.add_user()[0], folder, 4)),
            ("bare-again", lambda: _bare(server, again_login, again_password, folder)),
        )
        for side, run in sides:
            start = time.perf_counter()
            n, size = run()
            seconds = time.perf_counter() - start
            row: dict[str, object] = {
                "bench": f"imap-append-{side}",
                "messages": n,
                "megabytes": round(size / 2**20, 1),
                "seconds": round(seconds, 2),
                "messages_per_s": round(n / seconds, 1),
                "mb_per_s": round(size / 2**20 / seconds, 2),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    # The machine is shared: the raw limit is measured before and after, and our sides compared to the best.
    bare_rate = max(float(results[0]["messages_per_s"]), float(results[-1]["messages_per_s"]))  # type: ignore[arg-type]  # numbers set above
    for row in results[1:-1]:
        row["ratio_to_bare"] = round(float(row["messages_per_s"]) / bare_rate, 3)  # type: ignore[arg-type]  # idem
    results.append({"bench": "imapsync", "note": "not installable: no imapsync package in the Debian registries"})
    return results
