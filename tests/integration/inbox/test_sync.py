"""Incremental sync against real Dovecot: command/byte costs from the session meter, cursors, resync."""

from __future__ import annotations

import base64
import random
from datetime import date, timedelta

import pytest

from devstack.maillab import MailAccount, MailLab
from kindling.mail.imapsync import FolderCursor, SyncLimits, mark_seen, sync_folder
from tests.integration.inbox.conftest import Connect, append_all, message

pytestmark = pytest.mark.mail

IDLE = {"STATUS": 1}
NEW_MAIL = {"STATUS": 1, "EXAMINE": 1, "UID FETCH": 1, "UNSELECT": 1}


def test_first_sync_records_a_baseline_with_one_status(
    mail_lab: MailLab, account: MailAccount, connect: Connect
) -> None:
    append_all(mail_lab, account, "INBOX", [message(f"old{i}")[1] for i in range(5)])
    result = sync_folder(connect(), "INBOX", None)
    assert result.mode == "baseline"
    assert result.new_messages == []
    assert result.cost.by_command == IDLE
    assert result.cursor.last_uid == 5
    assert result.cursor.highestmodseq is not None  # Dovecot offers CONDSTORE


@pytest.mark.parametrize("size", [3, 300])
def test_idle_sync_costs_one_status_and_no_fetch(
    mail_lab: MailLab, account: MailAccount, connect: Connect, size: int
) -> None:
    append_all(mail_lab, account, "INBOX", [message(f"m{i}")[1] for i in range(size)])
    session = connect()
    cursor = sync_folder(session, "INBOX", None).cursor
    for _ in range(3):
        result = sync_folder(session, "INBOX", cursor)
        assert result.mode == "idle"
        assert result.cost.by_command == IDLE
        assert result.cost.fetches == 0
        assert result.cost.bytes_total < 250
        assert result.cursor == cursor
        cursor = result.cursor


def test_ten_new_messages_fetched_exactly(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    append_all(mail_lab, account, "INBOX", [message(f"old{i}")[1] for i in range(3)])
    session = connect()
    cursor = sync_folder(session, "INBOX", None).cursor
    new = [message(f"new{i}") for i in range(10)]
    append_all(mail_lab, account, "INBOX", [raw for _, raw in new])

    result = sync_folder(session, "INBOX", cursor)
    assert result.mode == "incremental"
    assert [m.key for m in result.new_messages] == [mid for mid, _ in new]
    assert [m.uid for m in result.new_messages] == list(range(4, 14))
    assert result.cost.by_command == NEW_MAIL
    assert result.complete
    assert result.cursor == FolderCursor(cursor.uidvalidity, 13, result.cursor.highestmodseq)
    first = result.new_messages[0]
    assert not first.truncated and first.raw.endswith(b"Hi there.\r\n")
    assert first.internal_date is not None
    assert first.attachments == ()
    assert first.parse().from_address == "pat@prospect.example"
    # And nothing new again: back to one STATUS.
    assert sync_folder(session, "INBOX", result.cursor).cost.by_command == IDLE


def test_batches_and_the_per_call_cap(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    session = connect()
    cursor = sync_folder(session, "INBOX", None).cursor
    new = [message(f"b{i}") for i in range(25)]
    append_all(mail_lab, account, "INBOX", [raw for _, raw in new])
    limits = SyncLimits(batch_size=10, max_messages=20)

    first = sync_folder(session, "INBOX", cursor, limits=limits)
    assert [m.key for m in first.new_messages] == [mid for mid, _ in new[:20]]
    assert not first.complete
    assert first.cursor.last_uid == 20
    assert first.cost.by_command == {"STATUS": 1, "EXAMINE": 1, "UID SEARCH": 1, "UID FETCH": 2, "UNSELECT": 1}

    second = sync_folder(session, "INBOX", first.cursor, limits=limits)
    assert [m.key for m in second.new_messages] == [mid for mid, _ in new[20:]]
    assert second.complete and second.cursor.last_uid == 25


def test_huge_message_is_capped_and_attachments_listed_from_bodystructure(
    mail_lab: MailLab, account: MailAccount, connect: Connect
) -> None:
    session = connect()
    cursor = sync_folder(session, "INBOX", None).cursor
    blob = random.Random(3).randbytes(300_000)
    encoded = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    text = "Interested! Details below.\r\n" + "x" * 150_000 + "\r\n"
    raw = (
        b"From: Pat <pat@prospect.example>\r\nTo: me@lab-mail.test\r\nSubject: big\r\nMessage-ID: <big@sync.test>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="bb"\r\n\r\n'
        b"--bb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode() + b"\r\n"
        b'--bb\r\nContent-Type: application/zip; name="data.zip"\r\n'
        b'Content-Disposition: attachment; filename="data.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--bb--\r\n"
    )
    append_all(mail_lab, account, "INBOX", [raw])

    result = sync_folder(session, "INBOX", cursor, limits=SyncLimits(body_bytes=64 * 1024))
    (fetched,) = result.new_messages
    assert fetched.size == len(raw)
    assert fetched.truncated
    assert len(fetched.body) == 64 * 1024
    assert result.cost.bytes_received < 80 * 1024  # the 400 KB attachment never crossed the wire
    assert fetched.attachments is not None
    (attachment,) = fetched.attachments
    assert (attachment.filename, attachment.content_type) == ("data.zip", "application/zip")
    assert abs(attachment.size - len(blob)) <= 2
    parsed = fetched.parse()
    assert parsed.source_truncated
    assert parsed.attachments == fetched.attachments
    assert parsed.reply_text.startswith("Interested! Details below.")
    assert len(parsed.text.encode()) <= 64 * 1024  # a stored body keeps its first 64 KiB


def test_uidvalidity_change_resyncs_without_reprocessing(
    mail_lab: MailLab, account: MailAccount, connect: Connect
) -> None:
    session = connect()
    folder = "Replies"
    assert session.imap.create(folder)[0] == "OK"
    cursor = sync_folder(session, folder, None).cursor
    # Old messages carry a 20 KB body, so downloading any of them again would show in the byte count.
    old = [message(f"old{i}", body="y" * 20_000 + "\r\n") for i in range(4)]
    append_all(mail_lab, account, folder, [raw for _, raw in old])
    first = sync_folder(session, folder, cursor)
    processed = {m.key for m in first.new_messages}
    assert processed == {mid for mid, _ in old}

    # The folder is deleted and recreated (a server migration, a restore): same mail, new UIDs, new UIDVALIDITY.
    assert session.imap.delete(folder)[0] == "OK"
    assert session.imap.create(folder)[0] == "OK"
    fresh = [message(f"fresh{i}") for i in range(2)]
    append_all(mail_lab, account, folder, [raw for _, raw in old[:2]] + [raw for _, raw in fresh] + [old[2][1]])

    result = sync_folder(session, folder, first.cursor, seen=processed.__contains__)
    assert result.mode == "resync"
    assert result.cursor.uidvalidity != first.cursor.uidvalidity
    assert [m.key for m in result.new_messages] == [mid for mid, _ in fresh]
    assert sorted(result.skipped_keys) == sorted(mid for mid, _ in old[:3])
    assert result.cursor.last_uid == 5
    assert result.cost.by_command == {"STATUS": 1, "EXAMINE": 1, "UID SEARCH": 1, "UID FETCH": 2, "UNSELECT": 1}
    assert result.cost.bytes_received < 20_000  # only key headers of the old mail, never their bodies
    assert sync_folder(session, folder, result.cursor).mode == "idle"


def test_resync_without_a_dedupe_hook_returns_everything(
    mail_lab: MailLab, account: MailAccount, connect: Connect
) -> None:
    session = connect()
    append_all(mail_lab, account, "INBOX", [message(f"m{i}")[1] for i in range(3)])
    cursor = sync_folder(session, "INBOX", None).cursor
    stale = FolderCursor(cursor.uidvalidity - 1, 99, None)
    result = sync_folder(session, "INBOX", stale)
    assert result.mode == "resync"
    assert len(result.new_messages) == 3 and result.skipped_keys == []


def test_server_without_condstore_uses_uidnext(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    session = connect(ignore=["CONDSTORE"])
    assert not session.has("CONDSTORE") and not session.has("QRESYNC")
    cursor = sync_folder(session, "INBOX", None).cursor
    assert cursor.highestmodseq is None
    idle = sync_folder(session, "INBOX", cursor, track_flags=True)
    assert (idle.mode, idle.cost.by_command) == ("idle", IDLE)

    new = [message(f"n{i}") for i in range(10)]
    append_all(mail_lab, account, "INBOX", [raw for _, raw in new])
    result = sync_folder(session, "INBOX", cursor, track_flags=True)
    assert [m.key for m in result.new_messages] == [mid for mid, _ in new]
    assert result.cost.by_command == NEW_MAIL
    assert result.cursor.highestmodseq is None and result.flag_changes == {}


def test_cursor_moves_between_condstore_and_plain_sessions(
    mail_lab: MailLab, account: MailAccount, connect: Connect
) -> None:
    # A cursor written while CONDSTORE was on stays valid when it is off (and the other way round).
    cursor = sync_folder(connect(), "INBOX", None).cursor
    assert sync_folder(connect(ignore=["CONDSTORE"]), "INBOX", cursor).mode == "idle"
    plain = FolderCursor(cursor.uidvalidity, cursor.last_uid, None)
    assert sync_folder(connect(), "INBOX", plain, track_flags=True).mode == "idle"


def test_flag_changes_reported_with_condstore(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    append_all(mail_lab, account, "INBOX", [message(f"f{i}")[1] for i in range(3)])
    session = connect()
    cursor = sync_folder(session, "INBOX", None).cursor
    mark_seen(connect(), "INBOX", [2])  # the user reads one in their mail client

    untracked = sync_folder(session, "INBOX", cursor)
    assert (untracked.mode, untracked.cost.by_command, untracked.flag_changes) == ("idle", IDLE, {})
    result = sync_folder(session, "INBOX", cursor, track_flags=True)
    assert result.mode == "flags"
    assert result.flag_changes == {2: ("\\Seen",)}
    assert result.new_messages == []
    assert result.cost.by_command == NEW_MAIL
    assert sync_folder(session, "INBOX", result.cursor, track_flags=True).mode == "idle"


def test_first_sync_with_a_look_back_window(mail_lab: MailLab, account: MailAccount, connect: Connect) -> None:
    mids = [message(f"w{i}") for i in range(3)]
    append_all(mail_lab, account, "INBOX", [raw for _, raw in mids])
    session = connect()
    past = sync_folder(session, "INBOX", None, since=date.today() - timedelta(days=2))
    assert past.mode == "initial"
    assert [m.key for m in past.new_messages] == [mid for mid, _ in mids]
    future = sync_folder(session, "INBOX", None, since=date.today() + timedelta(days=2))
    # Mail older than the window is never fetched: the cursor moves past it.
    assert future.new_messages == [] and future.cursor.last_uid == 3
    # With a dedupe hook the first sync skips what the caller already has.
    hooked = sync_folder(session, "INBOX", None, since=date(2000, 1, 1), seen={mids[0][0]}.__contains__)
    assert [m.key for m in hooked.new_messages] == [mid for mid, _ in mids[1:]]
    assert hooked.skipped_keys == [mids[0][0]]
