"""Inbox sync fixtures: a fresh lab account per test (on the session's Dovecot) and metered sessions to it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from email.utils import formatdate

import pytest

from devstack.maillab import MailAccount, MailLab
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.imapsync import ImapSession

Connect = Callable[..., ImapSession]


@pytest.fixture
def account(mail_lab: MailLab) -> MailAccount:
    """Each test owns its mailbox: counts, UIDs and folders are the test's own."""
    if mail_lab.imap_backend != "dovecot":
        pytest.skip("the inbox sync tests need Dovecot (CONDSTORE, MOVE, UIDPLUS)")
    return mail_lab.add_account(f"sync-{uuid.uuid4().hex[:10]}@lab-mail.test", "sync-pass-1", "lab-mail")


def endpoint(account: MailAccount, password: str | None = None, port: int | None = None) -> Endpoint:
    return Endpoint(
        account.imap_host,
        port or account.imap_port,
        account.email,
        account.password if password is None else password,
        account.imap_security,
    )


@pytest.fixture
def tls(mail_lab: MailLab) -> TlsPolicy:
    return TlsPolicy(str(mail_lab.ca_path), allow_private_addresses=True)


@pytest.fixture
def connect(account: MailAccount, tls: TlsPolicy) -> Iterator[Connect]:
    opened: list[ImapSession] = []

    def open_session(*, ignore: Sequence[str] = ()) -> ImapSession:
        session = ImapSession.connect(endpoint(account), tls, ignore_capabilities=frozenset(ignore))
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.close()


def message(tag: str, *, subject: str = "Hello", body: str = "Hi there.\r\n", headers: str = "") -> tuple[str, bytes]:
    """(Message-ID, raw CRLF message)."""
    mid = f"<{tag}.{uuid.uuid4().hex[:12]}@sync.test>"
    raw = (
        f"From: Pat Prospect <pat@prospect.example>\r\nTo: me@lab-mail.test\r\nSubject: {subject}\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: {mid}\r\n{headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}"
    )
    return mid, raw.encode()


def append_all(lab: MailLab, account: MailAccount, folder: str, raws: Sequence[bytes], flags: str = "") -> None:
    """APPEND through one connection (not metered: this is the mail arriving, not the sync)."""
    with lab.imap(account.email) as conn:
        for raw in raws:
            typ, data = conn.append(f'"{folder}"', flags or None, None, raw)
            assert typ == "OK", data
