"""The inbox sync of one mailbox (one sync-queue message) and the scheduled fan-out that queues them.

Per mailbox: take the mailbox's lease (two deliveries of its message never sync at once), log in over IMAP,
sync INBOX and Junk from their cursors (`imapsync.sync_folder`: an idle folder costs one STATUS and no FETCH),
hand every new message to `InboxService.handle_incoming`, mark it seen, save the folder's cursor, free the lease.

Failures stay with their mailbox:
- a login the server refuses (auth_failed, app_password_required, imap_disabled, mailbox_not_found) counts;
  the 10th in a row (for the same credentials: the count restarts when the mailbox's generation changes) is
  reported to the mailbox health helper (kindling.sending.mailbox_health) with that code: the mailbox goes
  `disconnected`, so the fan-out stops queueing it until the reconnect sweep or the user brings it back;
- a connection problem (timeout, refused, TLS, DNS, ...) is recorded with its code and acknowledged: the next
  scheduled sync retries in 5 minutes; re-delivering the message sooner would only repeat the failure;
- anything else (a bug, DynamoDB throttling) raises, so the handler reports that record alone as failed.

The first sync of a folder reads the mail received since the mailbox was added to Kindling (IMAP SINCE its
creation day, at most `FIRST_SYNC_LOOKBACK` back): replies to the first campaign emails are never lost to a
baseline, and older history stays out.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from kindling.inbox.repository import InboxRepository, SyncState, SyncSummary
from kindling.inbox.service import InboxService, Processed, WarmupHook
from kindling.mail.classify import Classification
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.imapsync import (
    FetchedMessage,
    FolderCursor,
    ImapSession,
    ImapSyncError,
    MeterReading,
    SyncFolders,
    SyncLimits,
    discover_folders,
    sync_folder,
)
from kindling.mailboxes.models import Mailbox
from kindling.mailboxes.repository import MailboxRepository
from kindling.mailboxes.secrets import KmsSecretBox, SecretBox
from kindling.platform import aws
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger
from kindling.platform.queues import QueueMessage, required_url, send_batches
from kindling.platform.settings import get_settings
from kindling.sending.mailbox_health import report_mailbox_failure
from kindling.warmup.receiving import WarmupReceiver

AUTH_CODES = frozenset({"auth_failed", "app_password_required", "imap_disabled", "mailbox_not_found"})
AUTH_FAILURE_LIMIT = 10
# The server no longer presents the certificate pinned at test time: deterministic, and only the user can accept
# it (a re-test), so the mailbox goes to `error` at once instead of failing every sync in silence.
CERTIFICATE_CODES = frozenset({"tls_certificate_changed"})
LEASE = timedelta(minutes=3)  # longer than the sync function's timeout (120 s): a crashed sync frees it
IMAP_TIMEOUT = 20.0
SYNC_LIMITS = SyncLimits(max_messages=100)  # per folder per pass; a pass repeats while time remains
MIN_PASS_SECONDS = 20.0
# A mailbox added long before its first sync (the feature deployed later) does not import months of mail.
FIRST_SYNC_LOOKBACK = timedelta(days=30)

Outcome = Literal["synced", "skipped", "busy", "missing", "auth_failed", "mailbox_error", "connection_error", "failed"]
Connect = Callable[[Endpoint, TlsPolicy], ImapSession]


def default_connect(endpoint: Endpoint, tls: TlsPolicy) -> ImapSession:
    return ImapSession.connect(endpoint, tls, timeout=IMAP_TIMEOUT)


@dataclass(frozen=True)
class FolderReport:
    folder: str
    mode: str
    new: int
    skipped: int
    complete: bool
    commands: dict[str, int]
    bytes_total: int

    @property
    def fetches(self) -> int:
        return self.commands.get("UID FETCH", 0) + self.commands.get("FETCH", 0)


@dataclass
class MailboxSyncReport:
    workspace_id: str
    mailbox_id: str
    outcome: Outcome
    error_code: str | None = None
    auth_failures: int = 0
    folders: list[FolderReport] = field(default_factory=list)
    processed: list[Processed] = field(default_factory=list)

    @property
    def fetches(self) -> int:
        return sum(f.fetches for f in self.folders)

    def summary(self) -> SyncSummary:
        folders: dict[str, Any] = {}
        for report in self.folders:
            entry = folders.setdefault(report.folder, {"passes": []})
            entry["passes"].append(asdict(report))
        return SyncSummary(self.outcome, folders)


def sync_message(workspace_id: str, mailbox_id: str) -> str:
    return json.dumps({"workspace_id": workspace_id, "mailbox_id": mailbox_id}, separators=(",", ":"))


def parse_sync_message(body: str) -> tuple[str, str]:
    data = json.loads(body)
    return str(data["workspace_id"]), str(data["mailbox_id"])


def _warmup_hook(clock: Clock | None) -> WarmupHook:
    """The warmup engine's receiving side (kindling.warmup.receiving), built on the first warmup email."""
    built: list[WarmupHook] = []

    def hook(session: Any, mailbox: Mailbox, folder: str, fetched: FetchedMessage, found: Classification) -> None:
        if not built:
            built.append(WarmupReceiver(clock=clock))
        built[0](session, mailbox, folder, fetched, found)

    return hook


class InboxSync:
    def __init__(
        self,
        inbox: InboxService | None = None,
        *,
        repository: InboxRepository | None = None,
        mailboxes: MailboxRepository | None = None,
        secrets: SecretBox | None = None,
        clock: Clock | None = None,
        tls: TlsPolicy | None = None,
        connect: Connect = default_connect,
        limits: SyncLimits = SYNC_LIMITS,
    ) -> None:
        self._repo = repository or (inbox.repository if inbox is not None else InboxRepository())
        self._inbox = inbox or InboxService(self._repo, clock=clock, on_warmup=_warmup_hook(clock))
        self._mailboxes = mailboxes or MailboxRepository()
        self._secrets = secrets
        self._clock = clock
        self._tls = tls
        self._connect = connect
        self._limits = limits

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def sync(self, workspace_id: str, mailbox_id: str, *, deadline: float | None = None) -> MailboxSyncReport:
        """Sync one mailbox; `deadline` (time.monotonic()) stops further passes over a busy folder in time."""
        try:
            mailbox = self._mailboxes.get(workspace_id, mailbox_id)
        except NotFound:
            return MailboxSyncReport(workspace_id, mailbox_id, "missing")
        if mailbox.status != "connected":
            return MailboxSyncReport(workspace_id, mailbox_id, "skipped")
        token = uuid.uuid4().hex
        state = self._repo.acquire_sync(workspace_id, mailbox_id, token, self._now(), LEASE)
        if state is None:
            return MailboxSyncReport(workspace_id, mailbox_id, "busy")
        failures = state.auth_failures if state.generation == mailbox.generation else 0
        report = MailboxSyncReport(workspace_id, mailbox_id, "synced", auth_failures=failures)
        folders = state.folders
        try:
            folders = self._sync_logged_in(mailbox, state, report, deadline)
        except BaseException:
            report.outcome, report.error_code = "failed", "internal_error"
            raise
        finally:
            self._repo.release_sync(
                workspace_id,
                mailbox_id,
                token,
                auth_failures=report.auth_failures,
                generation=mailbox.generation,
                folders=folders,
                error_code=report.error_code,
                summary=report.summary(),
                now=self._now(),
            )
        get_logger().info(
            "inbox sync",
            extra={
                "mailbox_id": mailbox_id,
                "outcome": report.outcome,
                "code": report.error_code,
                "messages": len(report.processed),
                "fetches": report.fetches,
            },
        )
        return report

    def _sync_logged_in(
        self, mailbox: Mailbox, state: SyncState, report: MailboxSyncReport, deadline: float | None
    ) -> dict[str, str | None] | None:
        """Connect, sync every folder; returns the folders to remember (None to discover them again)."""
        try:
            session = self._connect(self._endpoint(mailbox), self._tls or TlsPolicy.from_settings())
        except ImapSyncError as exc:
            self._connection_failed(mailbox, report, exc)
            return state.folders
        report.auth_failures = 0
        try:
            folders = self._folders(session, state)
            cursors = self._repo.cursors(mailbox.workspace_id, mailbox.id)
            vanished = False
            for folder in folders.scan_order():
                try:
                    self._sync_folder(session, mailbox, folder, cursors.get(folder), report, deadline)
                except ImapSyncError as exc:
                    if exc.code != "folder_not_found":
                        raise
                    # Renamed or deleted: the other folders still sync; the folders are discovered again next time.
                    get_logger().warning("inbox folder vanished", extra={"mailbox_id": mailbox.id, "folder": folder})
                    vanished = True
            if vanished:
                return None
            return {"inbox": folders.inbox, "junk": folders.junk, "sent": folders.sent, "trash": folders.trash}
        except ImapSyncError as exc:
            report.outcome, report.error_code = "connection_error", exc.code
            return state.folders
        finally:
            session.close()

    def _folders(self, session: ImapSession, state: SyncState) -> SyncFolders:
        if state.folders is not None:
            known = state.folders
            return SyncFolders(
                inbox=known.get("inbox") or "INBOX",
                junk=known.get("junk"),
                sent=known.get("sent"),
                trash=known.get("trash"),
            )
        return discover_folders(session)

    def _sync_folder(
        self,
        session: ImapSession,
        mailbox: Mailbox,
        folder: str,
        cursor: FolderCursor | None,
        report: MailboxSyncReport,
        deadline: float | None,
    ) -> None:
        ws = mailbox.workspace_id

        def seen(key: str) -> bool:
            return self._repo.is_seen(ws, mailbox.id, key)

        since = max(mailbox.created_at, self._now() - FIRST_SYNC_LOOKBACK).date()
        while True:
            result = sync_folder(session, folder, cursor, seen=seen, since=since, limits=self._limits)
            for fetched in result.new_messages:
                processed = self._inbox.handle_incoming(mailbox, folder, fetched, session=session)
                self._repo.mark_seen(ws, mailbox.id, fetched.key, processed.kind, self._now())
                report.processed.append(processed)
            if result.cursor != cursor:
                self._repo.save_cursor(ws, mailbox.id, folder, result.cursor, self._now())
            report.folders.append(_folder_report(folder, result.mode, result, result.cost))
            cursor = result.cursor
            if result.complete or (deadline is not None and deadline - time.monotonic() < MIN_PASS_SECONDS):
                return

    def _endpoint(self, mailbox: Mailbox) -> Endpoint:
        secrets = self._secrets or KmsSecretBox()
        return mailbox.imap_endpoint(secrets.decrypt(mailbox.workspace_id, mailbox.id, mailbox.imap_password_enc))

    def _connection_failed(self, mailbox: Mailbox, report: MailboxSyncReport, exc: ImapSyncError) -> None:
        report.error_code = exc.code
        if exc.code in CERTIFICATE_CODES:
            marked = report_mailbox_failure(self._mailboxes, mailbox, "imap", exc.code, self._now(), exc.detail)
            report.outcome = "mailbox_error" if marked else "connection_error"
            return
        if exc.code not in AUTH_CODES:
            report.outcome = "connection_error"
            return
        report.auth_failures += 1
        report.outcome = "auth_failed"
        if report.auth_failures >= AUTH_FAILURE_LIMIT and self._mark_error(mailbox, exc):
            report.outcome = "mailbox_error"

    def _mark_error(self, mailbox: Mailbox, exc: ImapSyncError) -> bool:
        """Reported to the health helper with the login's code; False when the mailbox changed meanwhile (new
        credentials: another generation) or was already reported."""
        if not report_mailbox_failure(self._mailboxes, mailbox, "imap", exc.code, self._now(), exc.detail):
            return False
        get_logger().warning(
            "mailbox disabled after repeated IMAP login failures",
            extra={"mailbox_id": mailbox.id, "code": exc.code, "failures": AUTH_FAILURE_LIMIT},
        )
        return True


def _folder_report(folder: str, mode: str, result: Any, cost: MeterReading) -> FolderReport:
    return FolderReport(
        folder=folder,
        mode=mode,
        new=len(result.new_messages),
        skipped=len(result.skipped_keys),
        complete=bool(result.complete),
        commands=dict(cost.by_command),
        bytes_total=cost.bytes_total,
    )


class SyncFanout:
    """The schedule's work: one sync-queue message per connected mailbox, in batches of ten."""

    def __init__(self, mailboxes: MailboxRepository | None = None) -> None:
        self._mailboxes = mailboxes or MailboxRepository()

    def run(self) -> int:
        url = required_url(get_settings().sync_queue_url, "KINDLING_SYNC_QUEUE_URL")
        queued = 0
        failed: list[str] = []
        for chunk in _chunks(self._mailboxes.connected_mailboxes(), 10):
            refused = send_batches(aws.client("sqs"), url, [QueueMessage(sync_message(ws, mb)) for ws, mb in chunk])
            queued += len(chunk) - len(refused)
            failed += [chunk[r.position][1] for r in refused]
        if failed:
            # Raising makes EventBridge retry the invocation; duplicates are harmless (the lease, the seen set).
            raise RuntimeError(f"{len(failed)} sync messages could not be queued (first: {failed[0]})")
        return queued


def _chunks(items: Iterable[tuple[str, str]], size: int) -> Iterable[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
