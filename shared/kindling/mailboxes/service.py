"""Mailbox rules: create/restore, update, soft delete, connection tests (async via the check queue, or sync).

Status flow: `created` (saved, check enqueued) -> `testing` (a check is running or queued) -> `connected` |
`error`. Every credential change, restore or re-test bumps `generation`; a check message carries the
generation it was queued for and is ignored when stale, so an old result never overwrites a newer one.

Deletion hook: the sending engine registers a listener with `on_mailbox_deleted`. After a mailbox is
soft-deleted, every listener is called with `(workspace_id, mailbox_id, deleted_at)`; the engine's
listener unsets the mailbox on the in-flight enrollments assigned to it and pushes their next send out by
`RELEASE_DELAY` (1 h, help center section 10). Listeners must be idempotent: a repeated DELETE calls them
again (that is also how a delete whose listener failed is completed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from kindling.mail.connection import (
    ConnectionTester,
    ConnectionTestResult,
    Endpoint,
    TlsPolicy,
    default_security,
)
from kindling.mail.providers import PRESETS, MxResolver, Provider, detect_provider, dns_mx_resolver
from kindling.mailboxes import health
from kindling.mailboxes.checks import CheckQueue, SqsCheckQueue
from kindling.mailboxes.models import (
    CREDENTIAL_FIELDS,
    Mailbox,
    MailboxCreate,
    MailboxTestRequest,
    MailboxUpdate,
)
from kindling.mailboxes.outage import in_outage
from kindling.mailboxes.repository import ClaimAction, MailboxPage, MailboxRepository, Stale
from kindling.mailboxes.secrets import KmsSecretBox, SecretBox
from kindling.platform.addresses import AddressRefused, Resolver, resolve_checked
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import Conflict, InvalidStatus, ValidationFailed, field_error
from kindling.platform.ids import new_uuid
from kindling.platform.observability import get_logger
from kindling.platform.settings import get_settings

RELEASE_DELAY = timedelta(hours=1)
_MAX_ATTEMPTS = 5


class MailboxDeletedListener(Protocol):
    def __call__(self, workspace_id: str, mailbox_id: str, deleted_at: datetime) -> None: ...


_deleted_listeners: list[MailboxDeletedListener] = []


def on_mailbox_deleted(listener: MailboxDeletedListener) -> MailboxDeletedListener:
    """Register a listener called after each soft delete (usable as a decorator)."""
    if listener not in _deleted_listeners:
        _deleted_listeners.append(listener)
    return listener


def remove_mailbox_deleted_listener(listener: MailboxDeletedListener) -> None:
    if listener in _deleted_listeners:
        _deleted_listeners.remove(listener)


@dataclass(frozen=True)
class ResolvedConnection:
    provider: Provider
    smtp: Endpoint
    imap: Endpoint


def default_tester() -> ConnectionTester:
    return ConnectionTester(tls=TlsPolicy.from_settings())


class MailboxService:
    def __init__(
        self,
        repository: MailboxRepository | None = None,
        secrets: SecretBox | None = None,
        queue: CheckQueue | None = None,
        tester: ConnectionTester | None = None,
        resolver: MxResolver | None = None,
        clock: Clock | None = None,
        address_resolver: Resolver | None = None,
    ) -> None:
        self._repo = repository or MailboxRepository()
        self._secrets = secrets or KmsSecretBox()
        self._queue = queue or SqsCheckQueue()
        self._tester = tester
        if resolver is None and get_settings().mx_lookups:
            resolver = dns_mx_resolver()
        self._resolver = resolver
        self._clock = clock
        self._address_resolver = address_resolver

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    @property
    def tester(self) -> ConnectionTester:
        if self._tester is None:
            self._tester = default_tester()
        return self._tester

    # --- reads -------------------------------------------------------------------------------------------
    def get(self, workspace_id: str, mailbox_id: str) -> Mailbox:
        return self._repo.get(workspace_id, mailbox_id)

    def list(self, workspace_id: str, status: str | None, limit: int, cursor: str | None) -> MailboxPage:
        return self._repo.list_page(workspace_id, status, limit, cursor)

    # --- connection settings -----------------------------------------------------------------------------
    def resolve_connection(self, body: MailboxTestRequest) -> ResolvedConnection:
        """Fill hosts/ports/usernames from the provider presets; every missing host is a field error."""
        email = body.email_address
        provider = detect_provider(email, body.smtp_host, body.imap_host, self._resolver)
        preset = PRESETS.get(provider) if provider else None
        errors = []
        smtp_host = body.smtp_host or (preset.smtp_host if preset else None)
        imap_host = body.imap_host or (preset.imap_host if preset else None)
        for name, value in (("smtp_host", smtp_host), ("imap_host", imap_host)):
            if value is None:
                errors.append(field_error(name, "required: no known provider for this email domain", "missing"))
        if errors or smtp_host is None or imap_host is None:
            raise ValidationFailed("The request is invalid.", details=errors)
        smtp_port = body.smtp_port or (preset.smtp_port if preset and not body.smtp_host else 587)
        imap_port = body.imap_port or (preset.imap_port if preset and not body.imap_host else 993)
        smtp_password = body.smtp_password
        imap_password = body.imap_password or smtp_password
        return ResolvedConnection(
            provider=provider or "other",
            smtp=Endpoint(
                host=smtp_host,
                port=smtp_port,
                username=body.smtp_username or email,
                password=smtp_password,
                security=body.smtp_security or default_security(smtp_port, "smtp"),
            ),
            imap=Endpoint(
                host=imap_host,
                port=imap_port,
                username=body.imap_username or email,
                password=imap_password,
                security=body.imap_security or default_security(imap_port, "imap"),
            ),
        )

    def check_addresses(self, conn: ResolvedConnection) -> None:
        """The address rules (kindling.platform.addresses) on both hosts, before anything is saved or dialled:
        a host resolving to a private, loopback, link-local... address is a 400 `validation_error` whose detail
        code is `private_address`. A host that does not resolve is left to the connection test (`dns_not_found`).
        The connections themselves check again, on the address they dial."""
        settings = get_settings()
        if settings.allow_private_targets:
            return
        errors = []
        for name, endpoint in (("smtp_host", conn.smtp), ("imap_host", conn.imap)):
            try:
                resolve_checked(endpoint.host, endpoint.port, allow_private=False, resolver=self._address_resolver)
            except AddressRefused as exc:
                if exc.code == "private_address":
                    errors.append(field_error(name, exc.message, "private_address"))
        if errors:
            raise ValidationFailed("The request is invalid.", details=errors)

    def _endpoints(self, mailbox: Mailbox) -> tuple[Endpoint, Endpoint]:
        ws, mid = mailbox.workspace_id, mailbox.id
        return (
            mailbox.smtp_endpoint(self._secrets.decrypt(ws, mid, mailbox.smtp_password_enc)),
            mailbox.imap_endpoint(self._secrets.decrypt(ws, mid, mailbox.imap_password_enc)),
        )

    def _connection_fields(
        self, workspace_id: str, mailbox_id: str, conn: ResolvedConnection, current: Mailbox | None = None
    ) -> dict[str, Any]:
        """The stored connection settings; a certificate pin survives only while its host and port stay."""

        def pin(host: str, port: int, pinned: str | None, endpoint: Endpoint) -> str | None:
            return pinned if (host, port) == (endpoint.host, endpoint.port) else None

        smtp_pin = pin(current.smtp_host, current.smtp_port, current.smtp_tls_pin, conn.smtp) if current else None
        imap_pin = pin(current.imap_host, current.imap_port, current.imap_tls_pin, conn.imap) if current else None
        return {
            "smtp_tls_pin": smtp_pin,
            "imap_tls_pin": imap_pin,
            "provider": conn.provider,
            "smtp_host": conn.smtp.host,
            "smtp_port": conn.smtp.port,
            "smtp_username": conn.smtp.username,
            "smtp_security": conn.smtp.security,
            "smtp_password_enc": self._secrets.encrypt(workspace_id, mailbox_id, conn.smtp.password),
            "imap_host": conn.imap.host,
            "imap_port": conn.imap.port,
            "imap_username": conn.imap.username,
            "imap_security": conn.imap.security,
            "imap_password_enc": self._secrets.encrypt(workspace_id, mailbox_id, conn.imap.password),
        }

    # --- create / restore ----------------------------------------------------------------------------------
    def create(self, workspace_id: str, body: MailboxCreate) -> tuple[Mailbox, bool]:
        """(mailbox, created). A soft-deleted mailbox with the same email is restored instead (created=False)."""
        conn = self.resolve_connection(body)
        self.check_addresses(conn)
        existing = self._repo.find_by_email(workspace_id, body.email_address)
        if any(not m.is_deleted for m in existing):
            raise Conflict(f"A mailbox with email {body.email_address} already exists.")
        now = self._now()
        profile = {
            "external_id": body.external_id,
            "display_name": body.display_name,
            "signature": body.signature,
            "daily_send_limit": body.daily_send_limit,
            "sending_enabled": body.sending_enabled,
        }
        if existing:
            previous = existing[0]
            fields = self._connection_fields(workspace_id, previous.id, conn, previous)
            fields.update({k: v for k, v in profile.items() if k in body.model_fields_set})
            mailbox = self._reactivate(previous, fields, warmup_pending=body.auto_enable_warmup)
            return self._mark_testing(mailbox), False
        mailbox_id = new_uuid()
        mailbox = Mailbox(
            id=mailbox_id,
            workspace_id=workspace_id,
            email_address=body.email_address,
            status="created",
            warmup_pending=body.auto_enable_warmup,
            generation=1,
            created_at=now,
            updated_at=now,
            **profile,
            **self._connection_fields(workspace_id, mailbox_id, conn),
        )
        self._repo.insert(mailbox)
        get_logger().info("mailbox created", extra={"mailbox_id": mailbox_id, "provider": conn.provider})
        self._queue.enqueue(workspace_id, mailbox_id, mailbox.generation)
        return self._mark_testing(mailbox), True

    def restore(self, workspace_id: str, mailbox_id: str) -> Mailbox:
        mailbox = self._repo.get(workspace_id, mailbox_id)
        if not mailbox.is_deleted:
            raise InvalidStatus(f"Mailbox {mailbox_id} is not deleted (status {mailbox.status}).")
        return self._reactivate(mailbox, {}, warmup_pending=False)

    def _reactivate(self, mailbox: Mailbox, fields: dict[str, Any], *, warmup_pending: bool) -> Mailbox:
        """Deleted -> created, taking the email claim back (409 if an active mailbox holds it), test enqueued."""

        def change(current: Mailbox) -> tuple[Mailbox, ClaimAction]:
            if not current.is_deleted:
                raise InvalidStatus(f"Mailbox {current.id} is not deleted (status {current.status}).")
            return (
                current.model_copy(
                    update={
                        **fields,
                        "status": "created",
                        "warmup_enabled": False,
                        "warmup_pending": warmup_pending,
                        "deleted_at": None,
                        "health_status": "ok",
                        "health_reasons": None,
                        "generation": current.generation + 1,
                        "updated_at": self._now(),
                    }
                ),
                "acquire",
            )

        restored = self._mutate(mailbox.workspace_id, mailbox.id, change, first=mailbox)
        get_logger().info("mailbox restored", extra={"mailbox_id": mailbox.id})
        self._queue.enqueue(restored.workspace_id, restored.id, restored.generation)
        return restored

    def _mark_testing(self, mailbox: Mailbox) -> Mailbox:
        generation = mailbox.generation

        def change(current: Mailbox) -> tuple[Mailbox, ClaimAction] | None:
            if current.status != "created" or current.generation != generation:
                return None  # the checker got there first, or something newer happened
            return current.model_copy(update={"status": "testing", "updated_at": self._now()}), "keep"

        return self._mutate(mailbox.workspace_id, mailbox.id, change, first=mailbox)

    # --- update / delete -----------------------------------------------------------------------------------
    def update(self, workspace_id: str, mailbox_id: str, patch: MailboxUpdate) -> Mailbox:
        changes = patch.changes()
        credential_change = any(name in changes for name in CREDENTIAL_FIELDS)
        current = self._repo.get(workspace_id, mailbox_id)
        if current.is_deleted:
            raise InvalidStatus(f"Mailbox {mailbox_id} is deleted; restore it first.")
        fields: dict[str, Any] = {k: v for k, v in changes.items() if k not in CREDENTIAL_FIELDS}
        if credential_change:
            smtp, imap = self._endpoints(current)
            merged = MailboxTestRequest(
                email_address=current.email_address,
                smtp_host=changes.get("smtp_host", smtp.host),
                smtp_port=changes.get("smtp_port", smtp.port),
                smtp_username=changes.get("smtp_username", smtp.username),
                smtp_security=changes.get("smtp_security", smtp.security if "smtp_port" not in changes else None),
                smtp_password=changes.get("smtp_password", smtp.password),
                imap_host=changes.get("imap_host", imap.host),
                imap_port=changes.get("imap_port", imap.port),
                imap_username=changes.get("imap_username", imap.username),
                imap_security=changes.get("imap_security", imap.security if "imap_port" not in changes else None),
                imap_password=changes.get("imap_password", imap.password),
            )
            conn = self.resolve_connection(merged)
            self.check_addresses(conn)
            fields.update(self._connection_fields(workspace_id, mailbox_id, conn, current))

        def change(m: Mailbox) -> tuple[Mailbox, ClaimAction]:
            if m.is_deleted:
                raise InvalidStatus(f"Mailbox {mailbox_id} is deleted; restore it first.")
            update = {**fields, "updated_at": self._now()}
            if credential_change:
                update.update(status="created", generation=m.generation + 1)
            return m.model_copy(update=update), "keep"

        updated = self._mutate(workspace_id, mailbox_id, change, first=current)
        if credential_change:
            self._queue.enqueue(workspace_id, mailbox_id, updated.generation)
            updated = self._mark_testing(updated)
        return updated

    def delete(self, workspace_id: str, mailbox_id: str) -> Mailbox:
        def change(m: Mailbox) -> tuple[Mailbox, ClaimAction] | None:
            if m.is_deleted:
                return None
            now = self._now()
            return (
                m.model_copy(
                    update={
                        "status": "deleted",
                        "warmup_enabled": False,
                        "warmup_pending": False,
                        "deleted_at": now,
                        "updated_at": now,
                        "generation": m.generation + 1,  # a queued check is now stale
                    }
                ),
                "release",
            )

        deleted = self._mutate(workspace_id, mailbox_id, change)
        get_logger().info("mailbox deleted", extra={"mailbox_id": mailbox_id})
        when = deleted.deleted_at or self._now()
        for listener in list(_deleted_listeners):
            listener(workspace_id, mailbox_id, when)
        return deleted

    # --- connection tests ----------------------------------------------------------------------------------
    def test_credentials(self, body: MailboxTestRequest) -> ConnectionTestResult:
        conn = self.resolve_connection(body)
        self.check_addresses(conn)
        return self.tester.run(conn.smtp, conn.imap)

    def retest(self, workspace_id: str, mailbox_id: str) -> tuple[Mailbox, ConnectionTestResult]:
        """Synchronous re-test with the stored credentials; the mailbox status follows the result.

        The user's explicit re-test is how a changed self-signed certificate is accepted: the new certificate is
        pinned, and the result says so (a `tls_certificate_changed` warning, `tls.changed`). The background
        check (create, restore, credential change) never re-pins: there a changed certificate is an error.
        """
        mailbox = self._repo.get(workspace_id, mailbox_id)
        if mailbox.is_deleted:
            raise InvalidStatus(f"Mailbox {mailbox_id} is deleted; restore it first.")

        def bump(m: Mailbox) -> tuple[Mailbox, ClaimAction]:
            if m.is_deleted:
                raise InvalidStatus(f"Mailbox {mailbox_id} is deleted; restore it first.")
            return m.model_copy(update={"status": "testing", "generation": m.generation + 1}), "keep"

        mailbox = self._mutate(workspace_id, mailbox_id, bump, first=mailbox)
        smtp, imap = self._endpoints(mailbox)
        result = self.tester.run(smtp, imap, repin=True)
        return self._record_result(mailbox, mailbox.generation, result), result

    def run_check(self, workspace_id: str, mailbox_id: str, generation: int) -> Mailbox | None:
        """The checker's work for one queue message; None when the message is stale."""
        mailbox = self._repo.get(workspace_id, mailbox_id)
        if mailbox.is_deleted or mailbox.generation != generation:
            get_logger().info("stale mailbox check skipped", extra={"mailbox_id": mailbox_id})
            return None

        def start(m: Mailbox) -> tuple[Mailbox, ClaimAction] | None:
            if m.status == "testing" or m.is_deleted or m.generation != generation:
                return None
            return m.model_copy(update={"status": "testing", "updated_at": self._now()}), "keep"

        mailbox = self._mutate(workspace_id, mailbox_id, start, first=mailbox)
        if mailbox.is_deleted or mailbox.generation != generation:
            return None
        smtp, imap = self._endpoints(mailbox)
        result = self.tester.run(smtp, imap)
        return self._record_result(mailbox, generation, result)

    def sweep_retest(self, workspace_id: str, mailbox_id: str) -> Mailbox | None:
        """The reconnect sweep's re-test of a mailbox in an outage, with its stored credentials and pins (never
        re-pinning: a changed certificate stays for the user to accept). A failure advances the re-test backoff;
        a success reconnects it (kindling.mailboxes.health announces both). None when it is not in an outage."""
        mailbox = self._repo.get(workspace_id, mailbox_id)
        if not in_outage(mailbox):
            return None
        smtp, imap = self._endpoints(mailbox)
        result = self.tester.run(smtp, imap)
        return health.record_test(self._repo, mailbox, mailbox.generation, result, self._now(), backoff="advance")

    def _record_result(self, mailbox: Mailbox, generation: int, result: ConnectionTestResult) -> Mailbox:
        """The test's result through the one health writer (kindling.mailboxes.health): connected, or the outage
        status with the classified code; a stale generation writes nothing."""
        return health.record_test(self._repo, mailbox, generation, result, self._now())

    # --- plumbing ------------------------------------------------------------------------------------------
    def _mutate(
        self,
        workspace_id: str,
        mailbox_id: str,
        change: Callable[[Mailbox], tuple[Mailbox, ClaimAction] | None],
        *,
        first: Mailbox | None = None,
    ) -> Mailbox:
        """Read-modify-write with optimistic retries; `change` returning None means "leave it as it is"."""
        current = first or self._repo.get(workspace_id, mailbox_id)
        for _ in range(_MAX_ATTEMPTS):
            outcome = change(current)
            if outcome is None:
                return current
            updated, claim = outcome
            try:
                return self._repo.replace(updated, current.version, claim)
            except Stale:
                current = self._repo.get(workspace_id, mailbox_id)
        raise Conflict(f"Mailbox {mailbox_id} is being changed concurrently; retry.")
