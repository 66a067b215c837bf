"""The sync decision (cursor + STATUS -> plan) on CONDSTORE and UIDNEXT-only servers, cursors, folder names."""

from __future__ import annotations

from datetime import date

import pytest

from kindling.mail.imapproto import FolderInfo, MailboxStatus, decode_mutf7
from kindling.mail.imapsync import (
    FolderCursor,
    MeterReading,
    SyncFolders,
    SyncPlan,
    imap_date,
    message_key,
    pick_folders,
    plan_sync,
)

CONDSTORE = MailboxStatus(uidvalidity=100, uidnext=51, highestmodseq=900)
NO_CONDSTORE = MailboxStatus(uidvalidity=100, uidnext=51)


@pytest.mark.parametrize(
    ("cursor", "status", "track_flags", "since", "plan"),
    [
        # First sync: record where the folder stands, fetch nothing (both server kinds).
        (None, CONDSTORE, False, None, SyncPlan("baseline", 51, 50, None)),
        (None, NO_CONDSTORE, False, None, SyncPlan("baseline", 51, 50, None)),
        # First sync with a look-back window: everything up to UIDNEXT-1 is a candidate (SEARCH SINCE narrows).
        (None, CONDSTORE, False, date(2026, 6, 1), SyncPlan("initial", 1, 50, None)),
        # Nothing new: UIDNEXT-1 == last_uid.
        (FolderCursor(100, 50, 900), CONDSTORE, False, None, SyncPlan("idle", 51, 50, None)),
        (FolderCursor(100, 50, None), NO_CONDSTORE, False, None, SyncPlan("idle", 51, 50, None)),
        # Flags changed but nothing new: idle unless flags are tracked.
        (FolderCursor(100, 50, 800), CONDSTORE, False, None, SyncPlan("idle", 51, 50, None)),
        (FolderCursor(100, 50, 800), CONDSTORE, True, None, SyncPlan("flags", 51, 50, 800)),
        # Without CONDSTORE, tracking flags is impossible: idle.
        (FolderCursor(100, 50, None), NO_CONDSTORE, True, None, SyncPlan("idle", 51, 50, None)),
        # New mail: exactly the UIDs above the cursor, up to UIDNEXT-1.
        (FolderCursor(100, 40, 850), CONDSTORE, False, None, SyncPlan("incremental", 41, 50, None)),
        (FolderCursor(100, 40, None), NO_CONDSTORE, False, None, SyncPlan("incremental", 41, 50, None)),
        (FolderCursor(100, 40, 850), CONDSTORE, True, None, SyncPlan("incremental", 41, 50, 850)),
        # UIDVALIDITY changed: everything again (deduped by the caller's seen hook).
        (FolderCursor(99, 4000, 1), CONDSTORE, False, None, SyncPlan("resync", 1, 50, None)),
        (FolderCursor(99, 4000, None), NO_CONDSTORE, True, None, SyncPlan("resync", 1, 50, None)),
        # A cursor ahead of the server (messages expunged at the top) is idle, not a negative range.
        (FolderCursor(100, 70, 900), CONDSTORE, False, None, SyncPlan("idle", 71, 70, None)),
        # An empty folder that stays empty: flags cannot have changed on nothing.
        (FolderCursor(100, 0, 1), MailboxStatus(100, 1, 5), True, None, SyncPlan("idle", 1, 0, None)),
    ],
)
def test_plan_sync(
    cursor: FolderCursor | None, status: MailboxStatus, track_flags: bool, since: date | None, plan: SyncPlan
) -> None:
    assert plan_sync(cursor, status, since=since, track_flags=track_flags) == plan


@pytest.mark.parametrize(
    ("plan", "fetches"),
    [
        (SyncPlan("incremental", 41, 50, None), True),
        (SyncPlan("resync", 1, 0, None), False),  # resync of an empty folder
        (SyncPlan("idle", 51, 50, None), False),
        (SyncPlan("baseline", 51, 50, None), False),
        (SyncPlan("flags", 51, 50, 3), False),
    ],
)
def test_plan_fetches_new(plan: SyncPlan, fetches: bool) -> None:
    assert plan.fetches_new is fetches


@pytest.mark.parametrize(
    ("cursor", "stored"),
    [
        (FolderCursor(1795591483, 42, 97), {"uidvalidity": 1795591483, "last_uid": 42, "highestmodseq": 97}),
        (FolderCursor(7, 0, None), {"uidvalidity": 7, "last_uid": 0}),
    ],
)
def test_cursor_round_trip(cursor: FolderCursor, stored: dict[str, int]) -> None:
    assert cursor.to_dict() == stored
    assert FolderCursor.from_dict(stored) == cursor


def test_cursor_from_dynamodb_numbers() -> None:
    from decimal import Decimal

    # DynamoDB hands numbers back as Decimal.
    assert FolderCursor.from_dict({"uidvalidity": Decimal(5), "last_uid": Decimal(9)}) == FolderCursor(5, 9, None)


def _folder(name: str, *flags: str, delimiter: str = "/") -> FolderInfo:
    return FolderInfo(name, decode_mutf7(name), frozenset(f.lower() for f in flags), delimiter)


DOVECOT = [_folder("INBOX"), _folder("Junk", "\\Junk"), _folder("Sent", "\\Sent"), _folder("Trash", "\\Trash")]
GMAIL = [
    _folder("INBOX"),
    _folder("[Gmail]", "\\Noselect", "\\HasChildren"),
    _folder("[Gmail]/All Mail", "\\All"),
    _folder("[Gmail]/Sent Mail", "\\Sent"),
    _folder("[Gmail]/Spam", "\\Junk"),
    _folder("[Gmail]/Bin", "\\Trash"),
]
OUTLOOK = [_folder("Inbox"), _folder("Junk Email"), _folder("Sent Items"), _folder("Deleted Items")]
YAHOO = [_folder("Inbox"), _folder("Bulk Mail"), _folder("Sent"), _folder("Trash")]
OUTLOOK_FR = [_folder("INBOX"), _folder("Courrier ind&AOk-sirable"), _folder("&AMk-l&AOk-ments envoy&AOk-s")]
DOTTED = [_folder("INBOX", delimiter="."), _folder("INBOX.Spam", delimiter="."), _folder("INBOX.Sent", delimiter=".")]


@pytest.mark.parametrize(
    ("folders", "special_use", "expected"),
    [
        (DOVECOT, True, SyncFolders("INBOX", "Junk", "Sent", "Trash")),
        (DOVECOT, False, SyncFolders("INBOX", "Junk", "Sent", "Trash")),  # names alone find them too
        (GMAIL, True, SyncFolders("INBOX", "[Gmail]/Spam", "[Gmail]/Sent Mail", "[Gmail]/Bin")),
        (GMAIL, False, SyncFolders("INBOX", "[Gmail]/Spam", "[Gmail]/Sent Mail", "[Gmail]/Bin")),
        (OUTLOOK, True, SyncFolders("Inbox", "Junk Email", "Sent Items", "Deleted Items")),
        (YAHOO, False, SyncFolders("Inbox", "Bulk Mail", "Sent", "Trash")),
        (OUTLOOK_FR, False, SyncFolders("INBOX", "Courrier ind&AOk-sirable", None, None)),
        (DOTTED, False, SyncFolders("INBOX", "INBOX.Spam", "INBOX.Sent", None)),
        ([_folder("INBOX")], True, SyncFolders("INBOX", None, None, None)),
    ],
)
def test_pick_folders(folders: list[FolderInfo], special_use: bool, expected: SyncFolders) -> None:
    assert pick_folders(folders, special_use=special_use) == expected


def test_special_use_wins_over_names() -> None:
    # A server that flags "Spam Quarantine" as \Junk while also having a plain folder called "Junk".
    folders = [_folder("INBOX"), _folder("Junk"), _folder("Spam Quarantine", "\\Junk")]
    assert pick_folders(folders, special_use=True).junk == "Spam Quarantine"
    assert pick_folders(folders, special_use=False).junk == "Junk"


def test_scan_order_reads_inbox_then_junk() -> None:
    assert SyncFolders("INBOX", "Junk").scan_order() == ["INBOX", "Junk"]
    assert SyncFolders("INBOX", None).scan_order() == ["INBOX"]


@pytest.mark.parametrize(
    ("header", "key"),
    [
        (b"Message-ID: <a1@x.example>\r\n\r\n", "<a1@x.example>"),
        (b"Message-Id:   <a1@x.example>  (comment)\r\n\r\n", "<a1@x.example>"),
        (b"Message-ID: bare-id@x.example\r\n\r\n", "<bare-id@x.example>"),
    ],
)
def test_message_key_uses_the_message_id(header: bytes, key: str) -> None:
    assert message_key(header) == key


def test_message_key_without_message_id_is_stable_and_distinct() -> None:
    one = b"Date: Mon, 8 Jun 2026 09:00:00 +0000\r\nFrom: a@x\r\nSubject: hi\r\n\r\n"
    two = b"Date: Mon, 8 Jun 2026 09:00:01 +0000\r\nFrom: a@x\r\nSubject: hi\r\n\r\n"
    assert message_key(one) == message_key(one)
    assert message_key(one).startswith("sha256:")
    assert message_key(one) != message_key(two)


def test_meter_reading_difference() -> None:
    later = MeterReading(7, 300, 9000, {"STATUS": 2, "UID FETCH": 1, "LOGIN": 1})
    earlier = MeterReading(3, 100, 1000, {"STATUS": 1, "LOGIN": 1})
    diff = later - earlier
    assert (diff.commands, diff.bytes_sent, diff.bytes_received, diff.bytes_total) == (4, 200, 8000, 8200)
    assert diff.by_command == {"STATUS": 1, "UID FETCH": 1}
    assert diff.fetches == 1


@pytest.mark.parametrize(("day", "text"), [(date(2026, 6, 8), "8-Jun-2026"), (date(2025, 12, 31), "31-Dec-2025")])
def test_imap_date(day: date, text: str) -> None:
    assert imap_date(day) == text
