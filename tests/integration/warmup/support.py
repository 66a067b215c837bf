"""Helpers shared by the warmup integration tests: mailboxes with KMS-encrypted passwords, a list-backed queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from devstack.maillab import MailAccount
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox
from kindling.platform.ids import new_uuid
from kindling.warmup.messages import WarmupSendMessage


class ListQueue:
    """The send queue as a list of the warmup jobs put on it."""

    def __init__(self) -> None:
        self.jobs: list[WarmupSendMessage] = []

    def send(self, jobs: Sequence[WarmupSendMessage], now: datetime) -> None:
        self.jobs.extend(jobs)

    def take(self) -> list[WarmupSendMessage]:
        taken, self.jobs = self.jobs, []
        return taken


def insert_mailbox(
    workspace_id: str, email: str, password: str, account: MailAccount | None, *, at: datetime, **fields: Any
) -> Mailbox:
    """A connected, warmup-enabled mailbox stored directly (KMS-encrypted password): a lab account's endpoints, or
    127.0.0.1 defaults that `fields` override."""
    mailbox_id = str(fields.pop("id", None) or new_uuid())  # the passwords are encrypted for this id
    box = KmsSecretBox()
    values: dict[str, Any] = {
        "id": mailbox_id,
        "workspace_id": workspace_id,
        "email_address": email,
        "display_name": "Sam Warm",
        "status": "connected",
        "generation": 1,
        "warmup_enabled": True,
        "smtp_host": account.smtp_host if account else "127.0.0.1",
        "smtp_port": account.smtp_port if account else 587,
        "smtp_username": email,
        "smtp_security": account.smtp_security if account else "starttls",
        "smtp_password_enc": box.encrypt(workspace_id, mailbox_id, password),
        "imap_host": account.imap_host if account else "127.0.0.1",
        "imap_port": account.imap_port if account else 993,
        "imap_username": email,
        "imap_security": account.imap_security if account else "ssl",
        "imap_password_enc": box.encrypt(workspace_id, mailbox_id, password),
        "created_at": at,
        "updated_at": at,
    }
    values.update(fields)
    mailbox = Mailbox.model_validate(values)
    MailboxRepository().insert(mailbox)
    return mailbox


def assert_plan_met_or_excluded(
    expected: Mapping[tuple[str, date], int],
    sent: Counter[tuple[str, date]],
    dropped: Mapping[tuple[str, date], int],
    excluded_at_day_end: Mapping[date, Mapping[str, str]],
    addresses: Mapping[str, str],
    ids: Mapping[str, str],
) -> None:
    """Each (mailbox name, day) sent its plan, less the sends still without a peer at the day's last tick; and such a
    shortfall only happened when every mailbox of the other domain (all it can reach) was excluded as Critical."""
    assert set(sent) <= set(expected)
    for key, planned in expected.items():
        assert sent[key] + dropped[key] == planned, (key, sent[key], dropped[key], planned)
    for (name, day), count in dropped.items():
        if count:
            domain = addresses[name].split("@")[1]
            reachable = [ids[other] for other, address in addresses.items() if not address.endswith("@" + domain)]
            assert all(excluded_at_day_end[day].get(r) == "low_health_score" for r in reachable), (name, day)
