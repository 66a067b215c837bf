"""The LinkedIn engine's periodic work and its webhook entry points:
- `account_sweep` (every 5 minutes): a disconnected account pauses every live campaign with it in its pool
  (`linkedin_account_disconnected`); a campaign the engine paused for that reason resumes once every account of
  its pool is connected again. A campaign paused for any other reason is never touched.
- `poll_relations` (every 6 hours): each connected account's relations, reconciled through
  `Attributor.record_acceptance` with the relation's own time (acceptances the webhook missed).
- `poll_inbox` (every 30 minutes): each connected account's chats changed since the last poll, their inbound
  messages through `Attributor.attribute_inbound`.
- `on_new_relation` / `on_new_message`: the provider's webhooks (kindling.api.linkedin_ingress).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from kindling.campaigns.repository import CampaignRepository
from kindling.campaigns.service import CampaignService
from kindling.enrollments.service import campaign_service
from kindling.linkedin.dispositions import DISCONNECTED_PAUSE_REASON
from kindling.linkedin.models import LinkedInAccount
from kindling.linkedin.provider import LinkedInProvider, ProviderError
from kindling.linkedin.provider_events import NewMessage, NewRelation
from kindling.linkedin.repository import LinkedInAccountRepository
from kindling.linkedin.service import LinkedInAccountService
from kindling.outreach.attribution import Attributor, InboundSink
from kindling.outreach.engine import pause_for_account
from kindling.outreach.repository import OutreachRepository
from kindling.platform import keys
from kindling.platform.clock import Clock, get_clock
from kindling.platform.errors import NotFound
from kindling.platform.observability import get_logger

LIVE_CAMPAIGN_STATUSES = ("running", "scheduled", "cooldown")
RELATIONS_POLL_EVERY = timedelta(hours=6)
INBOX_POLL_EVERY = timedelta(minutes=30)
POLL_OVERLAP = timedelta(minutes=5)  # a poll looks this far before the previous one (clock skew, late writes)
MAX_PAGES = 50


@dataclass
class SweepReport:
    accounts: int = 0
    paused: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    acceptances: int = 0
    replies: int = 0
    errors: list[str] = field(default_factory=list)


class EngineSweeps:
    def __init__(
        self,
        provider: LinkedInProvider,
        repository: OutreachRepository | None = None,
        campaigns: CampaignRepository | None = None,
        accounts: LinkedInAccountService | None = None,
        attributor: Attributor | None = None,
        clock: Clock | None = None,
        inbox: InboundSink | None = None,
    ) -> None:
        self._provider = provider
        self._repo = repository or OutreachRepository()
        self._campaigns = campaigns or CampaignRepository()
        self._accounts = accounts or LinkedInAccountService(provider=provider)
        self._rows = LinkedInAccountRepository()
        self._attributor = attributor or Attributor(self._repo, self._campaigns, inbox=inbox)
        self._clock = clock
        self._service: CampaignService | None = None

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    @property
    def service(self) -> CampaignService:
        if self._service is None:
            self._service = campaign_service(repository=self._campaigns)
        return self._service

    def _live_accounts(self) -> Iterator[LinkedInAccount]:
        for workspace_id, account_id in self._rows.live_accounts():
            try:
                yield self._rows.get(workspace_id, account_id)
            except NotFound:
                continue

    # --- disconnect and auto-resume ------------------------------------------------------------------------------
    def account_sweep(self) -> SweepReport:
        report = SweepReport()
        for account in self._live_accounts():
            report.accounts += 1
            if account.status in ("disconnected", "needs_verification", "restricted"):
                report.paused += self.pause_attached(account)
        for ref in self._repo.refs(keys.LI_PAUSED_PK):
            try:
                record = self._campaigns.get(ref.workspace_id, ref.campaign_id)
            except NotFound:
                self._repo.drop_ref(ref)
                continue
            if record.status != "paused" or record.paused_reason != DISCONNECTED_PAUSE_REASON:
                self._repo.drop_ref(ref)  # resumed, or paused by someone else since: not ours to resume
                continue
            if not all(self._connected(ref.workspace_id, a) for a in record.linkedin_account_ids):
                continue
            try:
                resumed = self.service.auto_resume(
                    ref.workspace_id, ref.campaign_id, DISCONNECTED_PAUSE_REASON, reset_failure_window=True
                )
            except Exception as exc:
                report.errors.append(f"{ref.campaign_id}: {exc}")
                continue
            self._repo.drop_ref(ref)
            if resumed.status == "running":
                report.resumed.append(ref.campaign_id)
                self._repo.put_ref(keys.LI_WATCH_PK, ref.workspace_id, ref.campaign_id)  # unpark its steps
        return report

    def _connected(self, workspace_id: str, account_id: str) -> bool:
        try:
            account = self._rows.get(workspace_id, account_id)
        except NotFound:
            return True  # deleted: it holds nothing back
        return account.status == "connected"

    def pause_attached(self, account: LinkedInAccount) -> list[str]:
        """Pause every live campaign with `account` in its pool (ids returned)."""
        paused: list[str] = []
        for status in LIVE_CAMPAIGN_STATUSES:
            cursor: str | None = None
            while True:
                page, cursor = self._campaigns.list_page(account.workspace_id, status, 100, cursor)
                for header in page:
                    if account.id in header.linkedin_account_ids and pause_for_account(
                        self.service, self._repo, account.workspace_id, header.campaign_id, account
                    ):
                        paused.append(header.campaign_id)
                if cursor is None:
                    break
        return paused

    # --- acceptances -----------------------------------------------------------------------------------------------
    def on_new_relation(self, event: NewRelation) -> int | None:
        """Acceptances counted; None when no live account is linked to the event's provider account."""
        account = self._accounts.find_by_provider_account(event.account_id)
        if account is None:
            return None
        now = self._now()
        return len(self._attributor.record_acceptance(account, event.provider_id, now, now).counted)

    def poll_relations(self) -> SweepReport:
        report = SweepReport()
        report.acceptances = self._poll_connected_accounts("relations", self._relations_of, report)
        return report

    def _poll_connected_accounts(
        self,
        what: Literal["relations", "inbox"],
        poll_one: Callable[[LinkedInAccount, datetime | None, datetime], int],
        report: SweepReport,
    ) -> int:
        """`poll_one` over each connected account since its last `what` poll; what they found, summed. A provider
        error skips the account and keeps its poll time, so the next poll covers the gap."""
        found = 0
        now = self._now()
        for account in self._live_accounts():
            if account.status != "connected" or account.provider_account_id is None:
                continue
            report.accounts += 1
            state = self._repo.engine_state(account.workspace_id, account.id)
            since = state.relations_polled_at if what == "relations" else state.inbox_polled_at
            try:
                found += poll_one(account, since, now)
            except ProviderError as exc:
                report.errors.append(f"{account.id}: {exc.code}")
                continue
            self._repo.mark_polled(account.workspace_id, account.id, what, now)
        return found

    def _relations_of(self, account: LinkedInAccount, since: datetime | None, now: datetime) -> int:
        counted = 0
        cursor: str | None = None
        floor = since - POLL_OVERLAP if since else None
        for _ in range(MAX_PAGES):
            page = self._provider.list_relations(str(account.provider_account_id), cursor)
            for relation in page.items:
                if floor is not None and relation.created_at is not None and relation.created_at < floor:
                    return counted  # newest first: the rest was seen by an earlier poll
                accepted_at = relation.created_at or now
                counted += len(
                    self._attributor.record_acceptance(account, relation.provider_id, accepted_at, now).counted
                )
            cursor = page.cursor
            if not cursor:
                break
        return counted

    # --- inbound messages ------------------------------------------------------------------------------------------
    def on_new_message(self, event: NewMessage) -> int | None:
        """Replies attributed; None when no live account is linked to the event's provider account."""
        account = self._accounts.find_by_provider_account(event.account_id)
        if account is None:
            return None
        if event.is_from_account:
            return 0
        now = self._now()
        return len(
            self._attributor.attribute_inbound(
                account,
                message_id=event.message_id,
                chat_id=event.chat_id,
                sender_member_id=event.sender_provider_id,
                text=event.text,
                received_at=event.timestamp or now,
                source="webhook",
                now=now,
            ).stamped
        )

    def poll_inbox(self) -> SweepReport:
        report = SweepReport()
        report.replies = self._poll_connected_accounts("inbox", self._inbox_of, report)
        return report

    def _inbox_of(self, account: LinkedInAccount, since: datetime | None, now: datetime) -> int:
        found = 0
        floor = since - POLL_OVERLAP if since else None
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = self._provider.list_chats(str(account.provider_account_id), cursor)
            for chat in page.items:
                if floor is not None and chat.timestamp is not None and chat.timestamp < floor:
                    continue
                messages = self._provider.list_chat_messages(chat.id)
                for message in messages.items:
                    if message.is_sender:
                        continue
                    if floor is not None and message.timestamp is not None and message.timestamp < floor:
                        continue
                    found += len(
                        self._attributor.attribute_inbound(
                            account,
                            message_id=message.id,
                            chat_id=chat.id,
                            sender_member_id=message.sender_provider_id or chat.attendee_provider_id,
                            text=message.text,
                            received_at=message.timestamp or now,
                            source="poll",
                            now=now,
                        ).stamped
                    )
            cursor = page.cursor
            if not cursor:
                break
        get_logger().debug("inbox polled", extra={"account_id": account.id, "replies": found})
        return found
