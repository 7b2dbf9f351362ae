"""IMAP → IMAP through the real CLI (``ent-migrate -c FILE run``) on a real Dovecot: a run killed with
SIGKILL in the middle of a mailbox — right after an APPEND reached the server and before the engine
journaled it, the moment a naive re-run duplicates — then re-run: verify marks every message ``=`` and
the target holds each message exactly once. Further runs (same state, or a fresh state store that has
forgotten everything) copy nothing."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import imapclient  # type: ignore[import-untyped]  # IMAPClient ships neither stubs nor py.typed

from tests.servers.dovecot import DovecotServer

ENV = {**os.environ, "CI": "1", "ENT_MIGRATE_PSEUDONYM_KEY": "9f" * 32, "TEST_IMAP_PASSWORD": ""}
OWNER = "ac-test$t1"


def _message(i: int, *, message_id: str | None = "auto", body: str = "", lf: bool = False) -> bytes:
    lines = []
    if message_id == "auto":
        lines.append(f"Message-ID: <m{i}.pipeline@example.org>")
    elif message_id is not None:
        lines.append(f"Message-ID: {message_id}")
    lines += [
        f"Date: Tue, {1 + i % 28:02d} Sep 2026 08:{i % 60:02d}:00 +0200",
        "From: =?utf-8?q?Ana=C3=AFs_Le_Goff?= <anais@example.org>",
        "To: parents-5a@example.org",
        f"Subject: =?utf-8?q?R=C3=A9union_{i}?=",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body or f"Bonjour, réunion numéro {i}.",
        "",
    ]
    return ("\n" if lf else "\r\n").join(lines).encode("utf-8")


def _fill_source(server: DovecotServer, login: str) -> dict[str, int]:
    client = imapclient.IMAPClient(server.host, server.ssl_port, ssl_context=server.ssl_context())
    client.login(f"{login}*{server.master_user}", server.master_password)
    counts: dict[str, int] = collections.Counter()
    when = dt.datetime(2026, 9, 1, 6, 0, tzinfo=dt.UTC)
    for i in range(40):
        flags = [b"\\Seen"] if i % 2 else []
        if i % 7 == 0:
            flags.append(b"$Label1")
        client.append("INBOX", _message(i, lf=i % 5 == 0), flags=flags, msg_time=when + dt.timedelta(hours=i))
        counts["INBOX"] += 1
    twice = _message(100)
    for _ in range(2):  # an exact copy delivered twice
        client.append("INBOX", twice, msg_time=when)
        counts["INBOX"] += 1
    for body in ("first text", "second text"):  # two messages sharing one Message-ID
        client.append("INBOX", _message(101, message_id="<shared@example.org>", body=body), msg_time=when)
        counts["INBOX"] += 1
    client.create_folder("Éléments envoyés")  # \Sent on this server: the target's Sent folder gets it
    client.create_folder("Drafts")
    for i in range(6):
        client.append("Éléments envoyés", _message(200 + i), flags=[b"\\Seen"], msg_time=when)
        client.append("Drafts", _message(300 + i, message_id=None), flags=[b"\\Draft"], msg_time=when)
        counts["Éléments envoyés"] += 1
        counts["Drafts"] += 1
    client.logout()
    return dict(counts)


def _target_contents(server: DovecotServer, login: str) -> dict[str, list[str]]:
    client = imapclient.IMAPClient(server.host, server.ssl_port, ssl_context=server.ssl_context())
    client.login(f"{login}*{server.master_user}", server.master_password)
    out: dict[str, list[str]] = {}
    for _, _, name in client.list_folders():
        client.select_folder(name, readonly=True)
        uids = client.search("ALL")
        found = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        out[name] = sorted(hashlib.sha256(d[b"BODY[]"]).hexdigest() for d in found.values())
    client.logout()
    return out


def _config(
    tmp_path: Path, server: DovecotServer, source: str, target: str, *, state: str, crash: int | None = None
) -> Path:
    common = (
        f'master_user = "{server.master_user}"\npassword = "${{TEST_IMAP_PASSWORD}}"\nca_file = "{server.ca_file}"\n'
    )
    knob = f"crash_after_appends = {crash}\n" if crash is not None else ""
    path = tmp_path / f"ent-migrate-{state}-{crash}.toml"
    path.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / state}"\n'
        f'[source.old]\nspec = "imap://{server.host}:{server.ssl_port}"\n{common}'
        f'users = {{ "{OWNER}" = "{source}" }}\n'
        f'[target.new]\nspec = "imap://{server.host}:{server.port}"\nstarttls = true\n{common}{knob}'
        f'users = {{ "{OWNER}" = "{target}" }}\n'
        '[privacy]\nkey = "${ENT_MIGRATE_PSEUDONYM_KEY}"\n[report]\ndir = "reports"\n'
    )
    return path


def _cli(server: DovecotServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**ENV, "TEST_IMAP_PASSWORD": server.master_password}
    return subprocess.run(
        [sys.executable, "-m", "ent_migrate", *args], capture_output=True, text=True, env=env, check=False, timeout=300
    )


def _run(server: DovecotServer, config: Path) -> subprocess.CompletedProcess[str]:
    upgraded = _cli(server, "-c", str(config), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return _cli(server, "-c", str(config), "run", "--yes", "--json")


def test_a_run_killed_mid_mailbox_resumes_without_a_duplicate(dovecot: DovecotServer, tmp_path: Path) -> None:
    source, _ = dovecot.add_user()
    target, _ = dovecot.add_user()
    counts = _fill_source(dovecot, source)
    total = sum(counts.values())

    killed = _run(dovecot, _config(tmp_path, dovecot, source, target, state="state.db", crash=20))
    assert killed.returncode == -9, f"the crash knob did not fire: {killed.returncode}\n{killed.stderr[-2000:]}"
    partial = _target_contents(dovecot, target)
    assert 0 < sum(len(v) for v in partial.values()) < total, "the kill did not land in the middle"

    resumed = _run(dovecot, _config(tmp_path, dovecot, source, target, state="state.db"))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    marks = json.loads(resumed.stdout)["verify"]["marks"]
    folders = len(counts) + 0  # INBOX, Sent, Drafts
    assert marks["="] == total + folders, marks
    assert sum(n for mark, n in marks.items() if mark != "=") == 0, marks

    after = _target_contents(dovecot, target)
    before = _target_contents(dovecot, source)
    assert after["INBOX"] == before["INBOX"], "the target's INBOX differs from the source's (lost or doubled)"
    assert after["Sent"] == before["Éléments envoyés"], "the Sent folder was not matched by its role"
    assert after["Drafts"] == before["Drafts"]

    # Again with the same state, then with a fresh state store that remembers nothing: nothing is copied.
    for state in ("state.db", "forgetful.db"):
        again = _run(dovecot, _config(tmp_path, dovecot, source, target, state=state))
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert _target_contents(dovecot, target) == after, f"a re-run ({state}) changed the target"
