"""Campaigns in-process over moto: the prospects tests' `api` fixture, plus mailboxes written straight into the
table in the state a test needs (connected, disconnected, sending disabled), since the connection checker and
its mail servers are the mailboxes tests' business."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.platform.clock import get_clock
from kindling.platform.ids import new_uuid
from tests.integration.prospects.conftest import Api, api  # noqa: F401  (the fixture, reused as is)

MailboxFactory = Callable[..., Mailbox]


def make_mailbox(workspace_id: str, **fields: Any) -> Mailbox:
    now = get_clock().now()
    email = fields.pop("email_address", f"sender-{new_uuid()[:8]}@lab.test")
    values: dict[str, Any] = {
        "id": new_uuid(),
        "workspace_id": workspace_id,
        "email_address": email,
        "status": "connected",
        "display_name": "Jordan Lee",
        "signature": "<p>Jordan Lee, Kindling</p>",
        "smtp_host": "smtp.lab.test",
        "smtp_port": 587,
        "smtp_username": email,
        "smtp_security": "starttls",
        "smtp_password_enc": "not-a-real-ciphertext",
        "imap_host": "imap.lab.test",
        "imap_port": 993,
        "imap_username": email,
        "imap_security": "ssl",
        "imap_password_enc": "not-a-real-ciphertext",
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    mailbox = Mailbox.model_validate(values)
    MailboxRepository().insert(mailbox)
    return mailbox


def set_mailbox(mailbox: Mailbox, **changes: Any) -> Mailbox:
    repo = MailboxRepository()
    current = repo.get(mailbox.workspace_id, mailbox.id)
    return repo.replace(current.model_copy(update=changes), current.version)


@pytest.fixture
def mailbox_factory(api: Api) -> MailboxFactory:  # noqa: F811
    def factory(**fields: Any) -> Mailbox:
        return make_mailbox(api.tenant.workspace_id, **fields)

    return factory
