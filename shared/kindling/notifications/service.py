"""Notification emails to the workspace's `notificationEmail` (decisions.md, "Notification emails").

`Notifier.send` delivers one plain-text email: through SES from `KINDLING_NOTIFICATION_SES_SENDER` when the stack
sets it, else through one of the workspace's own connected mailboxes (the SMTP path every sender uses: the pinned
certificate, the address rules on the host it dials). Nothing is sent when the workspace has no notification
address or no way to send; the caller records that the notification was handled (once per outage, once per
activation), so a notification is never sent twice.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Literal

from kindling.mail.connection import TlsPolicy
from kindling.mail.outcomes import Outcome
from kindling.mail.smtp import Batch, Outgoing, SmtpSender
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox, SecretBox
from kindling.notifications.models import NotificationSettings, NotificationSettingsUpdate
from kindling.notifications.repository import NotificationRepository
from kindling.platform import aws
from kindling.platform.clock import Clock, get_clock
from kindling.platform.observability import get_logger
from kindling.platform.settings import get_settings

Channel = Literal["ses", "mailbox"]


class NotificationFailed(Exception):
    """The notification could not be delivered (the caller may try again later)."""


class NotificationService:
    def __init__(self, repository: NotificationRepository | None = None, clock: Clock | None = None) -> None:
        self._repo = repository or NotificationRepository()
        self._clock = clock

    def get(self, workspace_id: str) -> NotificationSettings:
        return self._repo.get(workspace_id)

    def update(self, workspace_id: str, body: NotificationSettingsUpdate) -> NotificationSettings:
        return self._repo.save(workspace_id, body.notification_email, (self._clock or get_clock()).now())


class Notifier:
    def __init__(
        self,
        settings: NotificationService | None = None,
        mailboxes: MailboxRepository | None = None,
        secrets: SecretBox | None = None,
        tls: TlsPolicy | None = None,
    ) -> None:
        self._settings = settings or NotificationService()
        self._mailboxes = mailboxes or MailboxRepository()
        self._secrets = secrets
        self._tls = tls

    def send(
        self, workspace_id: str, subject: str, text: str, now: datetime, *, avoid: str | None = None
    ) -> Channel | None:
        """Email the workspace's notification address; the channel used, or None when there is no address or no
        connected mailbox to send from (`avoid`: a mailbox not to send from). `NotificationFailed` when the send
        itself failed."""
        to = self._settings.get(workspace_id).notification_email
        if not to:
            return None
        sender = get_settings().notification_ses_sender
        if sender:
            aws.client("ses").send_email(
                Source=sender,
                Destination={"ToAddresses": [to]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                },
            )
            return "ses"
        mailbox = self._sending_mailbox(workspace_id, avoid)
        if mailbox is None:
            get_logger().warning(
                "no connected mailbox to send a notification from", extra={"workspace_id": workspace_id}
            )
            return None
        self._smtp(mailbox, to, subject, text, now)
        return "mailbox"

    def _sending_mailbox(self, workspace_id: str, avoid: str | None) -> Mailbox | None:
        cursor: str | None = None
        while True:
            page = self._mailboxes.list_page(workspace_id, "connected", 100, cursor)
            for mailbox in page.items:
                if mailbox.can_send and mailbox.id != avoid:
                    return mailbox
            cursor = page.next_cursor
            if cursor is None:
                return None

    def _smtp(self, mailbox: Mailbox, to: str, subject: str, text: str, now: datetime) -> None:
        msg = EmailMessage(policy=SMTP)
        msg["From"] = mailbox.email_address
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now.astimezone(UTC))
        msg["Message-ID"] = f"<notify-{uuid.uuid4().hex}@{mailbox.email_address.rpartition('@')[2]}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text, charset="utf-8")
        secrets = self._secrets or KmsSecretBox()
        password = secrets.decrypt(mailbox.workspace_id, mailbox.id, mailbox.smtp_password_enc)
        batch = Batch(
            mailbox.id, mailbox.smtp_endpoint(password), [Outgoing("notify", mailbox.email_address, to, msg.as_bytes())]
        )
        report = asyncio.run(SmtpSender(tls=self._tls or TlsPolicy.from_settings()).send_batch(batch))
        outcomes = [r.outcome for r in report.results]
        if outcomes != [Outcome.SENT]:
            detail = report.results[0].detail if report.results else ""
            raise NotificationFailed(f"the notification was not sent: {[str(o) for o in outcomes]} {detail}")
