"""Folder discovery, Junk rescue (MOVE, COPY + UID EXPUNGE, COPY + EXPUNGE), flags, and classified errors."""

from __future__ import annotations

import socket

import pytest

from devstack.maillab import MailAccount, MailLab
from kindling.mail.classify import classify
from kindling.mail.connection import TlsPolicy
from kindling.mail.imapproto import parse_fetch
from kindling.mail.imapsync import (
    ImapSession,
    ImapSyncError,
    SyncFolders,
    discover_folders,
    mark_flagged,
    mark_seen,
    move_messages,
    store_flags,
    sync_folder,
)
from tests.integration.inbox.conftest import Connect, append_all, endpoint, message

pytestmark = pytest.mark.mail

WARMUP_HEADERS = "X-Kindling-Warmup: wm_test\r\n"


def flags_by_key(session: ImapSession, folder: str) -> dict[str, set[str]]:
    """Message-ID -> flags of every message in `folder` (read-only)."""
    session.select(folder, readonly=True)
    try:
        typ, data = session.imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK"
        out: dict[str, set[str]] = {}
        for entry in parse_fetch([d for d in data if d is not None]):
            header = entry["BODY[HEADER.FIELDS (MESSAGE-ID)]"]
            mid = header.decode().split(":", 1)[1].strip() if header else ""
            out[mid] = {str(f) for f in entry["FLAGS"]} - {"\\Recent"}
        return out
    finally:
        session.leave()


@pytest.mark.parametrize("ignore", [(), ("SPECIAL-USE",)])
def test_folders_found_by_special_use_and_by_name(connect: Connect, ignore: tuple[str, ...]) -> None:
    session = connect(ignore=ignore)
    assert session.has("SPECIAL-USE") is (not ignore)
    assert discover_folders(session) == SyncFolders("INBOX", "Junk", "Sent", "Trash")
    assert discover_folders(session).scan_order() == ["INBOX", "Junk"]


def test_warmup_found_in_junk_is_rescued_by_move(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    session = connect()
    folders = discover_folders(session)
    assert folders.junk is not None
    junk_cursor = sync_folder(session, folders.junk, None).cursor
    inbox_cursor = sync_folder(session, folders.inbox, None).cursor
    warmup_id, warmup = message("wm", subject="Q3 planning notes [ref: K7P2M9QX]", headers=WARMUP_HEADERS)
    spam_id, spam = message("spam", subject="You won a prize", body="Claim your prize now!\r\n")
    append_all(mail_lab, account, folders.junk, [spam, warmup])

    scan = sync_folder(session, folders.junk, junk_cursor)
    kinds = {m.key: classify(m.parse()).kind for m in scan.new_messages}
    assert kinds == {spam_id: "reply", warmup_id: "warmup"}
    to_rescue = [m.uid for m in scan.new_messages if kinds[m.key] == "warmup"]

    moved = move_messages(session, folders.junk, folders.inbox, to_rescue)
    assert moved.method == "move"
    assert moved.uids == tuple(to_rescue)
    (new_uid,) = moved.new_uids.values()
    mark_seen(session, folders.inbox, [new_uid])
    mark_flagged(session, folders.inbox, [new_uid])

    assert set(flags_by_key(session, folders.junk)) == {spam_id}
    assert flags_by_key(session, folders.inbox) == {warmup_id: {"\\Seen", "\\Flagged"}}
    # The INBOX sync sees the rescued message as new mail; the Message-ID dedupe hook skips it.
    inbox = sync_folder(session, folders.inbox, inbox_cursor, seen={warmup_id}.__contains__)
    assert inbox.new_messages == [] and inbox.skipped_keys == [warmup_id]
    assert inbox.cursor.last_uid == new_uid


def test_move_fallback_copy_and_uid_expunge(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    session = connect(ignore=["MOVE"])
    assert session.has("UIDPLUS")
    ids = [message(f"c{i}") for i in range(3)]
    append_all(mail_lab, account, "Junk", [raw for _, raw in ids])
    # Another message already marked \Deleted must survive: UID EXPUNGE only removes the UIDs given.
    keep_id, keep = message("keep")
    append_all(mail_lab, account, "Junk", [keep], flags="(\\Deleted)")

    moved = move_messages(session, "Junk", "INBOX", [1, 3])
    assert moved.method == "copy_uid_expunge"
    assert sorted(moved.new_uids) == [1, 3]
    assert set(flags_by_key(session, "INBOX")) == {ids[0][0], ids[2][0]}
    assert flags_by_key(session, "Junk") == {ids[1][0]: set(), keep_id: {"\\Deleted"}}


@pytest.mark.parametrize(("others_deleted", "unselect"), [(False, True), (True, True), (False, False), (True, False)])
def test_move_fallback_without_uidplus(
    mail_lab: MailLab, account: MailAccount, connect: Connect, others_deleted: bool, unselect: bool
) -> None:
    # Without UNSELECT the folder is left with CLOSE, which must not expunge the user's \Deleted mail either.
    session = connect(ignore=["MOVE", "UIDPLUS"] + ([] if unselect else ["UNSELECT"]))
    ids = [message(f"p{i}") for i in range(2)]
    append_all(mail_lab, account, "Junk", [raw for _, raw in ids])
    if others_deleted:
        keep_id, keep = message("keep")
        append_all(mail_lab, account, "Junk", [keep], flags="(\\Deleted)")

    moved = move_messages(session, "Junk", "INBOX", [1])
    assert set(flags_by_key(session, "INBOX")) == {ids[0][0]}
    junk = flags_by_key(session, "Junk")
    if others_deleted:
        # A plain EXPUNGE would also remove the user's own \Deleted message: leave ours flagged instead.
        assert moved.method == "copy_flagged"
        assert junk == {ids[0][0]: {"\\Deleted"}, ids[1][0]: set(), keep_id: {"\\Deleted"}}
    else:
        assert moved.method == "copy_expunge"
        assert junk == {ids[1][0]: set()}


def test_store_flags_add_and_remove(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    mid, raw = message("flags")
    append_all(mail_lab, account, "INBOX", [raw])
    session = connect()
    store_flags(session, "INBOX", [1], ["\\Seen", "\\Flagged"])
    assert flags_by_key(session, "INBOX") == {mid: {"\\Seen", "\\Flagged"}}
    store_flags(session, "INBOX", [1], ["\\Flagged"], add=False)
    assert flags_by_key(session, "INBOX") == {mid: {"\\Seen"}}
    assert session.imap.state == "AUTH"  # every action leaves the folder again


def test_nothing_to_move_sends_nothing(connect: Connect) -> None:
    session = connect()
    before = session.meter.reading()
    assert move_messages(session, "Junk", "INBOX", []).uids == ()
    mark_seen(session, "INBOX", [])
    assert (session.meter.reading() - before).commands == 0


def test_wrong_password_is_auth_failed(account: MailAccount, tls: TlsPolicy) -> None:
    with pytest.raises(ImapSyncError) as caught:
        ImapSession.connect(endpoint(account, password="not-the-password"), tls)
    assert caught.value.code == "auth_failed"
    assert "not-the-password" not in str(caught.value)


def test_closed_port_is_connection_refused(account: MailAccount, tls: TlsPolicy) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ImapSyncError) as caught:
        ImapSession.connect(endpoint(account, port=port), tls, timeout=5)
    assert caught.value.code == "connection_refused"


def test_untrusted_certificate_is_certificate_invalid(account: MailAccount) -> None:
    # The lab's certificate is signed by the lab CA, which the system store does not know.
    with pytest.raises(ImapSyncError) as caught:
        ImapSession.connect(endpoint(account), TlsPolicy(allow_private_addresses=True))
    assert caught.value.code == "certificate_invalid"


def test_missing_folder_is_folder_not_found(connect: Connect) -> None:
    with pytest.raises(ImapSyncError) as caught:
        sync_folder(connect(), "No Such Folder", None)
    assert caught.value.code == "folder_not_found"
    assert caught.value.hint


def test_dropped_connection_is_classified(connect: Connect) -> None:
    session = connect()
    session.imap.shutdown()  # the socket goes away under the session
    with pytest.raises(ImapSyncError) as caught:
        sync_folder(session, "INBOX", None)
    assert caught.value.code == "server_disconnected"
