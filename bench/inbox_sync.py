"""Inbox sync cost against a real Dovecot: IMAP commands and bytes per folder sync.

Folders of 100, 10,000 and 50,000 messages (written straight into the account's Maildir, then indexed by
Dovecot once), each measured on a fresh logged-in session, as the sync function would open one:

- idle: a sync with nothing new (CONDSTORE on, and with CONDSTORE hidden: the UIDNEXT path);
- new10: a sync after 10 messages were delivered over LMTP;
- resync (50,000 only): a UIDVALIDITY change where the caller has already seen every message, i.e. the
  cost of re-listing a folder without re-downloading it.

Bytes are IMAP protocol bytes both ways (after TLS). Login/logout overhead is reported once, separately.
Target: idle cost constant in the folder size (ratio 1.0 for commands; bytes differ only by the digits of
UIDNEXT/HIGHESTMODSEQ), new-mail cost proportional to the new mail only.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from email.utils import formatdate
from pathlib import Path

from devstack.maillab.certs import generate_certs
from devstack.maillab.dovecot import DovecotServer
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.imapsync import KEY_FIELDS, FolderCursor, ImapSession, MeterReading, message_key, sync_folder

SIZES = (100, 10_000, 50_000)
NEW = 10
PASSWORD = "bench-pass-1"
DOMAIN = "lab-mail.test"

_WORDS = (
    "pipeline", "quarter", "meeting", "proposal", "pricing", "outbound", "follow", "up", "demo", "schedule",
    "budget", "team", "launch", "review", "partner", "webinar", "notes", "timeline", "contract", "renewal",
    "onboarding", "campaign", "reply", "thanks",
)  # fmt: skip


def _message(rng: random.Random, index: int, when: float) -> bytes:
    subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 7))).capitalize()
    paragraphs = [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(25, 60))).capitalize() + "."
        for _ in range(rng.randint(2, 6))
    ]
    body = "Hi,\r\n\r\n" + "\r\n\r\n".join(paragraphs) + "\r\n\r\nBest,\r\nPat\r\n"
    return (
        f"Return-Path: <pat{index % 97}@prospect.example>\r\n"
        f"Received: from mx.prospect.example (mx.prospect.example [192.0.2.{index % 250}])\r\n"
        f"\tby mail.lab-mail.test with ESMTPS id {uuid.UUID(int=rng.getrandbits(128)).hex[:12]};\r\n"
        f"\t{formatdate(when)}\r\n"
        f"From: Pat {index % 97} <pat{index % 97}@prospect.example>\r\n"
        f"To: bench@{DOMAIN}\r\n"
        f"Subject: Re: {subject}\r\n"
        f"Date: {formatdate(when)}\r\n"
        f"Message-ID: <bench.{index}.{rng.getrandbits(40):x}@prospect.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


def _fill_maildir(maildir: Path, count: int, rng: random.Random) -> None:
    """Write `count` messages into Maildir/cur (Dovecot indexes them on the next access)."""
    cur = maildir / "cur"
    st = maildir.stat()
    start = time.time() - count
    for i in range(count):
        raw = _message(rng, i, start + i)
        path = cur / f"{int(start) + i}.M{i}P{os.getpid()}.bench,S={len(raw)}:2,S"
        path.write_bytes(raw)
        os.utime(path, (start + i, start + i))  # INTERNALDATE comes from the file time
        os.chown(path, st.st_uid, st.st_gid)


def _session(server: DovecotServer, user: str, tls: TlsPolicy, ignore: frozenset[str] = frozenset()) -> ImapSession:
    return ImapSession.connect(
        Endpoint(server.host, server.imaps_port, user, PASSWORD, "ssl"), tls, ignore_capabilities=ignore
    )


def _measure(
    server: DovecotServer,
    user: str,
    tls: TlsPolicy,
    cursor: FolderCursor | None,
    *,
    ignore: frozenset[str] = frozenset(),
    seen: frozenset[str] | None = None,
) -> tuple[MeterReading, FolderCursor, int, float]:
    with _session(server, user, tls, ignore) as session:
        started = time.perf_counter()
        result = sync_folder(session, "INBOX", cursor, seen=seen.__contains__ if seen is not None else None)
        elapsed = time.perf_counter() - started
    return result.cost, result.cursor, len(result.new_messages), elapsed


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    rng = random.Random(20260610)
    with tempfile.TemporaryDirectory(prefix="kdl-bench-inbox-") as tmp:
        base = Path(tmp)
        certs = generate_certs(base / "tls")
        server = DovecotServer(base, certs)
        users = {size: f"bench{size}@{DOMAIN}" for size in SIZES}
        for user in users.values():
            server.add_user(user, PASSWORD)
        server.start()
        tls = TlsPolicy(str(certs.ca_path), allow_private_addresses=True)
        try:
            for size, user in users.items():
                started = time.perf_counter()
                with _session(server, user, tls) as session:  # first login creates the Maildir
                    session.status("INBOX")
                local = user.split("@")[0]
                _fill_maildir(server.mail_dir / DOMAIN / local / "Maildir", size, rng)
                with _session(server, user, tls) as session:
                    session.select("INBOX", readonly=True)  # Dovecot indexes the new files here
                    session.leave()
                    assert session.status("INBOX").uidnext == size + 1
                figures[f"setup_seconds_{size}"] = round(time.perf_counter() - started, 2)

                overhead = _session(server, user, tls)
                overhead.close()
                figures["session_overhead_commands"] = float(overhead.meter.commands)
                figures["session_overhead_bytes"] = float(overhead.meter.bytes_sent + overhead.meter.bytes_received)

                baseline, cursor, _, _ = _measure(server, user, tls, None)
                figures[f"baseline_commands_{size}"] = float(baseline.commands)
                idle, idle_cursor, fetched, idle_s = _measure(server, user, tls, cursor)
                assert (fetched, idle.fetches, idle_cursor.last_uid) == (0, 0, size)
                figures[f"idle_commands_{size}"] = float(idle.commands)
                figures[f"idle_fetches_{size}"] = float(idle.fetches)
                figures[f"idle_bytes_{size}"] = float(idle.bytes_total)
                figures[f"idle_ms_{size}"] = round(idle_s * 1000, 2)
                plain, _, _, _ = _measure(server, user, tls, cursor, ignore=frozenset({"CONDSTORE"}))
                figures[f"idle_nocondstore_commands_{size}"] = float(plain.commands)
                figures[f"idle_nocondstore_bytes_{size}"] = float(plain.bytes_total)

                # The same 10 messages for every folder size, so their costs compare like for like.
                same = random.Random(10)
                arriving = [_message(same, i, time.time()) for i in range(NEW)]
                for raw in arriving:
                    server.deliver("pat@prospect.example", user, raw)
                figures["new10_message_bytes"] = float(sum(len(raw) for raw in arriving))
                new, new_cursor, fetched, new_s = _measure(server, user, tls, cursor)
                assert (fetched, new_cursor.last_uid) == (NEW, size + NEW)
                figures[f"new10_commands_{size}"] = float(new.commands)
                figures[f"new10_fetches_{size}"] = float(new.fetches)
                figures[f"new10_bytes_{size}"] = float(new.bytes_total)
                figures[f"new10_ms_{size}"] = round(new_s * 1000, 2)

                if size == max(SIZES):
                    # A UIDVALIDITY change where every message was processed before: keys only, no bodies.
                    with _session(server, user, tls) as session:
                        session.select("INBOX", readonly=True)
                        headers = session.fetch("1:*", KEY_FIELDS)
                        keys = frozenset(
                            message_key(next(v for k, v in e.items() if k.startswith("BODY[HEADER"))) for e in headers
                        )
                        session.leave()
                    stale = FolderCursor(new_cursor.uidvalidity - 1, new_cursor.last_uid, None)
                    resync, _, fetched, resync_s = _measure(server, user, tls, stale, seen=keys)
                    assert fetched == 0
                    figures[f"resync_all_seen_commands_{size}"] = float(resync.commands)
                    figures[f"resync_all_seen_bytes_{size}"] = float(resync.bytes_total)
                    figures[f"resync_all_seen_seconds_{size}"] = round(resync_s, 2)
        finally:
            server.stop()
    small, large = min(SIZES), max(SIZES)
    for name in ("idle_commands", "idle_bytes", "new10_commands", "new10_bytes"):
        ratio = figures[f"{name}_{large}"] / figures[f"{name}_{small}"]
        figures[f"{name}_ratio_{large}_over_{small}"] = round(ratio, 3)
    return figures
