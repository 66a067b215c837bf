"""The sender's one reading of a mailbox's backoff and host circuit for a queued message (mailbox_hold): why it
may not send now, and when the scheduler tries again (the backoff's end, else the circuit's, else one hour)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kindling.mailboxes.models import Mailbox
from kindling.sending.backoff import BackoffState
from kindling.sending.circuit import HostCircuit
from kindling.sending.repository import MailboxState
from kindling.sending.sender import Hold, mailbox_hold

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
BACKOFF_END = NOW + timedelta(minutes=5)
CIRCUIT_END = NOW + timedelta(minutes=10)


def _mailbox(**values: Any) -> Mailbox:
    base: dict[str, Any] = {
        "id": "mbx_1",
        "workspace_id": "ws_abc123",
        "email_address": "a@example.com",
        "status": "connected",
        "smtp_host": "smtp.example.com",
        "smtp_port": 587,
        "smtp_username": "a",
        "smtp_security": "starttls",
        "smtp_password_enc": "x",
        "imap_host": "imap.example.com",
        "imap_port": 993,
        "imap_username": "a",
        "imap_security": "ssl",
        "imap_password_enc": "x",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Mailbox(**{**base, **values})


BACKING_OFF = MailboxState("mbx_1", backoff=BackoffState(level=2, until=BACKOFF_END))
BACKED_OFF = MailboxState("mbx_1", backoff=BackoffState(level=2, until=NOW))  # over at `now`
CLEAR = MailboxState("mbx_1")
OPEN = HostCircuit(3, CIRCUIT_END)
CLOSED = HostCircuit(3, NOW)  # over at `now`


@pytest.mark.parametrize(
    ("mailbox", "state", "host", "hold"),
    [
        (_mailbox(), CLEAR, None, None),
        (_mailbox(), BACKED_OFF, CLOSED, None),
        (_mailbox(), BACKING_OFF, None, Hold("backoff", BACKOFF_END)),
        (_mailbox(), CLEAR, OPEN, Hold("host_circuit_open", CIRCUIT_END)),
        (_mailbox(), BACKING_OFF, OPEN, Hold("backoff", BACKOFF_END)),  # the backoff is checked first
        (None, CLEAR, None, Hold("mailbox_unusable", NOW + timedelta(hours=1))),
        (_mailbox(status="error"), None, None, Hold("mailbox_unusable", NOW + timedelta(hours=1))),
        (_mailbox(sending_enabled=False), CLEAR, None, Hold("mailbox_unusable", NOW + timedelta(hours=1))),
        (_mailbox(sending_enabled=False), BACKING_OFF, None, Hold("mailbox_unusable", BACKOFF_END)),
        (_mailbox(status="disconnected"), CLEAR, OPEN, Hold("mailbox_unusable", CIRCUIT_END)),
    ],
)
def test_the_hold_and_when_it_lifts(
    mailbox: Mailbox | None, state: MailboxState | None, host: HostCircuit | None, hold: Hold | None
) -> None:
    assert mailbox_hold(mailbox, state, host, NOW) == hold
