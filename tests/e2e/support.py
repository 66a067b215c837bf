"""Helpers shared by the e2e tests: a connected mail-lab mailbox over HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from devstack.maillab import MailAccount, MailLab
from devstack.runtime import LocalStack


def own_workspace(stack: LocalStack, name: str) -> dict[str, str]:
    """Auth headers of a fresh workspace on the running stack: its own 60/min rate-limit budget and data."""
    return new_workspace(stack, name)[1]


def new_workspace(stack: LocalStack, name: str) -> tuple[str, dict[str, str]]:
    """A fresh workspace on the running stack: (its id, its auth headers)."""
    from kindling.auth.scopes import ALL_SCOPES
    from kindling.auth.service import AuthService

    assert stack.api_key, "the stack is running"
    auth = AuthService()
    workspace = auth.create_workspace(name)
    _, token = auth.create_api_key(workspace.id, name="e2e", scopes=ALL_SCOPES)
    return workspace.id, {"Authorization": f"Bearer {token}"}


def settled(client: httpx.Client, stack: LocalStack, mailbox_id: str, timeout: float = 60) -> dict[str, Any]:
    """The mailbox once its connection test has finished (connected, error or disconnected), running the stack's
    queues."""
    deadline = time.monotonic() + timeout
    while True:
        stack.drain()
        data: dict[str, Any] = client.get(f"/api/v1/mailboxes/{mailbox_id}").json()["data"]
        if data["status"] in ("connected", "error", "disconnected") or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def connected_mailbox(client: httpx.Client, stack: LocalStack, account_index: int = -1, **extra: Any) -> dict[str, Any]:
    """A lab mailbox, connected (reusing the one another test made: an address is unique per workspace)."""
    account = stack.mail_accounts[account_index]
    body = {
        "email_address": account["email"],
        "smtp_host": account["smtp_host"],
        "smtp_port": account["smtp_port"],
        "smtp_security": account["smtp_security"],
        "smtp_password": account["password"],
        "imap_host": account["imap_host"],
        "imap_port": account["imap_port"],
        "imap_security": account["imap_security"],
        "imap_password": account["password"],
        # The same sender identity whichever test creates the mailbox first; the others reuse it.
        "display_name": "E2E Sender",
        "signature": "<p>-- E2E Sender</p>",
        **extra,
    }
    created = client.post("/api/v1/mailboxes", json=body)
    if created.status_code == 409:
        listed = client.get("/api/v1/mailboxes", params={"limit": 100}).json()["data"]
        mailbox_id = next(m["id"] for m in listed if m["email_address"] == account["email"])
    else:
        assert created.status_code in (200, 201), created.text
        mailbox_id = created.json()["data"]["id"]
    data = settled(client, stack, mailbox_id)
    assert data["status"] == "connected", data["last_test_error"]
    return data


# What EventBridge sends a scheduled function (its `time` set per call).
SCHEDULED: dict[str, Any] = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


def lab_of(stack: LocalStack, *, needs_dovecot: bool = False) -> MailLab:
    """The stack's running mail lab: fresh accounts keep a test's mailboxes its own (the demo ones are shared)."""
    lab = getattr(stack, "_mail_lab", None)
    assert isinstance(lab, MailLab), "the local stack runs a mail lab"
    if needs_dovecot and lab.imap_backend != "dovecot":
        pytest.skip("this e2e test needs Dovecot")
    return lab


def connect_account(
    client: httpx.Client, stack: LocalStack, account: MailAccount, display_name: str, **extra: Any
) -> dict[str, Any]:
    """Create a mailbox for a lab account over HTTP and wait until its connection test has passed."""
    body = {
        "email_address": account.email,
        "display_name": display_name,
        "smtp_host": account.smtp_host,
        "smtp_port": account.smtp_port,
        "smtp_security": account.smtp_security,
        "smtp_password": account.password,
        "imap_host": account.imap_host,
        "imap_port": account.imap_port,
        "imap_security": account.imap_security,
        "imap_password": account.password,
        **extra,
    }
    created = client.post("/api/v1/mailboxes", json=body)
    assert created.status_code == 201, created.text
    mailbox_id = created.json()["data"]["id"]
    data = settled(client, stack, mailbox_id)
    assert data["status"] == "connected", data["last_test_error"]
    return data
