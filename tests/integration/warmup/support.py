"""Helpers shared by the warmup integration tests: mailboxes with KMS-encrypted passwords, a list-backed queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from devstack.maillab import MailAccount
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox
from kindling.platform.ids import new_uuid
from kindling.warmup.engine import WarmupSendJob


class ListQueue:
    """The send queue as a list of the warmup jobs put on it."""

    def __init__(self) -> None:
        self.jobs: list[WarmupSendJob] = []

    def send(self, jobs: Sequence[WarmupSendJob], now: datetime) -> None:
        self.jobs.extend(jobs)

    def take(self) -> list[WarmupSendJob]:
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
