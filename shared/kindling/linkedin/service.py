"""LinkedIn accounts: connect through the provider's hosted auth, settings, delete, the one status helper (status
and audit row together, `linkedin.account_disconnected` once per outage), the health check, the orphan watcher and
the 24 h outage notification, and reactions under the engagement cap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.linkedin.limits import (
    DIMENSIONS,
    Dimension,
    after_restriction,
    effective_caps,
    parse_strategy,
    ramp_week,
    validate_overrides,
)
from kindling.linkedin.models import (
    DOWN_STATUSES,
    AccountStatus,
    AuditEntry,
    ConnectLink,
    InvalidProxy,
    LinkedInAccount,
    ProxySettings,
    Reaction,
    TransitionSource,
    ends_outage,
    parse_custom_proxy,
    starts_outage,
    status_from_provider,
)
from kindling.linkedin.provider import (
    REACTION_TYPES,
    LinkedInProvider,
    ProviderAccount,
    ProviderError,
    SentMessage,
    client_from_settings,
)
from kindling.linkedin.repository import AccountPage, LinkedInAccountRepository, ReactionPage, Stale
from kindling.linkedin.secrets import KmsProxySecretBox, ProxySecretBox
from kindling.linkedin.usage import Activity, UsageRepository
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import (
    BadGateway as ProviderUnavailable,
)
from kindling.platform.errors import (
    Conflict,
    NotFound,
    RateLimited,
    ValidationFailed,
    field_error,
)
from kindling.platform.ids import prefixed_id
from kindling.platform.observability import get_logger
from kindling.platform.settings import SettingsError

Notify = Callable[[str, str, str], None]
"""`notify(workspace_id, subject, text)`: how a long outage reaches the workspace's people."""

CONNECT_LINK_REUSE = timedelta(seconds=90)  # help center 40.6: a second click within 90 s gets the same URL
HOSTED_AUTH_VALIDITY = timedelta(hours=1)  # how long the provider's hosted page accepts the user
ORPHAN_AFTER = timedelta(minutes=5)  # help center 40.5: `connecting` for more than 5 minutes
OUTAGE_NOTIFY_AFTER = timedelta(hours=24)  # help center 40.2 (4)
NAME_SEPARATOR = ":"  # the hosted-auth `name` is `<workspace id>:<li id>`: the notify call names the row it links
_FLIP_ATTEMPTS = 5


def default_provider() -> LinkedInProvider:
    """The stack's provider client, from the settings (base URL and API key); a stack without a provider answers
    502 `provider_error` on the routes that need one, never a 500."""
    try:
        return client_from_settings()
    except SettingsError as exc:
        get_logger().warning("linkedin provider not configured", extra={"problem": str(exc)})
        raise ProviderUnavailable("The LinkedIn provider is not configured on this stack.") from exc


@dataclass(frozen=True)
class ConnectResult:
    url: str
    account: LinkedInAccount
    reused: bool
    expires_at: datetime  # until when a repeated click gets this same URL


@dataclass(frozen=True)
class SweepResult:
    checked: int = 0
    changed: int = 0
    failed: int = 0


def hosted_auth_name(workspace_id: str, account_id: str) -> str:
    return f"{workspace_id}{NAME_SEPARATOR}{account_id}"


def parse_hosted_auth_name(name: str) -> tuple[str, str] | None:
    workspace_id, sep, account_id = (name or "").partition(NAME_SEPARATOR)
    if not sep or not workspace_id.startswith("ws_") or not account_id.startswith("li_"):
        return None
    return workspace_id, account_id


def linkedin_url_of(public_identifier: str | None) -> str | None:
    return f"https://www.linkedin.com/in/{public_identifier}" if public_identifier else None


class LinkedInAccountService:
    def __init__(
        self,
        repository: LinkedInAccountRepository | None = None,
        provider: LinkedInProvider | None = None,
        *,
        events: EventService | None = None,
        secrets: ProxySecretBox | None = None,
        clock: Clock | None = None,
        notify: Notify | None = None,
        usage: UsageRepository | None = None,
    ) -> None:
        self._repo = repository or LinkedInAccountRepository()
        self._provider = provider
        self._events = events
        self._secrets = secrets
        self._clock = clock
        self._notify = notify
        self._usage_repo = usage

    # --- collaborators --------------------------------------------------------------------------------------------
    @property
    def provider(self) -> LinkedInProvider:
        if self._provider is None:
            self._provider = default_provider()
        return self._provider

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _event_service(self) -> EventService:
        if self._events is None:
            self._events = EventService()
        return self._events

    def _secret_box(self) -> ProxySecretBox:
        if self._secrets is None:
            self._secrets = KmsProxySecretBox()
        return self._secrets

    # --- reads ------------------------------------------------------------------------------------------------------
    def get(self, workspace_id: str, account_id: str) -> LinkedInAccount:
        return self._repo.get(workspace_id, account_id)

    def list_accounts(self, workspace_id: str, limit: int, cursor: str | None) -> AccountPage:
        return self._repo.list_page(workspace_id, limit, cursor)

    def audit(self, workspace_id: str, account_id: str) -> list[AuditEntry]:
        return self._repo.audit(workspace_id, account_id)

    # --- connect (help center 36.1, 40.6) ---------------------------------------------------------------------------
    def connect(self, workspace_id: str, notify_url: str, *, success_redirect_url: str | None = None) -> ConnectResult:
        """The hosted-auth URL for a new account and its `connecting` row. Within 90 s of a previous connect the
        same URL (and row) comes back, unless that link already connected its account; two concurrent first clicks
        get one link between them."""
        now = self._now()
        current = self._reusable_link(workspace_id, None, now)
        used: str | None = None
        if current is not None:
            pending = self._repo.get(workspace_id, current.account_id, include_deleted=True)
            if pending.status == "connecting":
                return ConnectResult(current.url, pending, True, current.expires_at)
            used = current.url  # that link already connected its account: a new click starts a new one
        account = LinkedInAccount(
            id=prefixed_id("li", 12), workspace_id=workspace_id, status="connecting", created_at=now, updated_at=now
        )
        url = self._hosted_link(
            lambda: self.provider.create_hosted_auth_link(
                name=hosted_auth_name(workspace_id, account.id),
                notify_url=notify_url,
                expires_at=now + HOSTED_AUTH_VALIDITY,
                success_redirect_url=success_redirect_url,
            )
        )
        link = ConnectLink(account_id=account.id, url=url, created_at=now, expires_at=now + CONNECT_LINK_REUSE)
        self._repo.insert(account)
        if not self._repo.claim_connect_link(workspace_id, link, now, replacing=used):
            # Another click won the race: its link is the one in flight. Ours was never handed out: its row goes
            # (so no second `connecting` row lingers for the orphan watcher to find ambiguous).
            self.set_status(
                workspace_id, account.id, "deleted", reason="a concurrent connect's link is in flight", source="api"
            )
            other = self._repo.connect_link(workspace_id)
            if other is not None:
                return ConnectResult(other.url, self._repo.get(workspace_id, other.account_id), True, other.expires_at)
        return ConnectResult(url, account, False, link.expires_at)

    def reconnect(self, workspace_id: str, account_id: str, notify_url: str) -> ConnectResult:
        """The provider's reconnect URL for an account that is down (or still connecting); 90 s reuse as connect."""
        account = self._repo.get(workspace_id, account_id)
        if account.provider_account_id is None:
            raise Conflict("This account was never linked; connect a new account instead.", code="not_linked")
        now = self._now()
        current = self._reusable_link(workspace_id, account_id, now)
        used: str | None = None
        if current is not None:
            if account.status != "connected":
                return ConnectResult(current.url, account, True, current.expires_at)
            used = current.url
        provider_id = account.provider_account_id
        url = self._hosted_link(
            lambda: self.provider.reconnect_hosted_auth_link(
                provider_id, notify_url=notify_url, expires_at=now + HOSTED_AUTH_VALIDITY
            )
        )
        link = ConnectLink(account_id=account_id, url=url, created_at=now, expires_at=now + CONNECT_LINK_REUSE)
        if not self._repo.claim_connect_link(workspace_id, link, now, reconnect_of=account_id, replacing=used):
            other = self._repo.connect_link(workspace_id, account_id)
            if other is not None:
                return ConnectResult(other.url, account, True, other.expires_at)
        return ConnectResult(url, account, False, link.expires_at)

    def _reusable_link(self, workspace_id: str, account_id: str | None, now: datetime) -> ConnectLink | None:
        link = self._repo.connect_link(workspace_id, account_id)
        return link if link is not None and now < link.expires_at else None

    @staticmethod
    def _hosted_link(call: Callable[[], str]) -> str:
        try:
            return call()
        except ProviderError as exc:
            raise ProviderUnavailable(f"The LinkedIn provider refused the hosted-auth link ({exc.code}).") from exc

    def link_from_notify(self, name: str, provider_account_id: str, *, source: TransitionSource = "callback") -> bool:
        """The provider's hosted-auth notify: link the row named by `name` to the provider's account and flip it
        through the status helper (to the provider's current status, `connected` when OK). False when `name`
        names no row of ours (logged, nothing written)."""
        parsed = parse_hosted_auth_name(name)
        if parsed is None:
            get_logger().warning("linkedin notify names no account", extra={"name": name[:120]})
            return False
        workspace_id, account_id = parsed
        try:
            self._repo.get(workspace_id, account_id)
        except NotFound:
            get_logger().warning("linkedin notify for an unknown account", extra={"account_id": account_id})
            return False
        details = self._provider_account(provider_account_id)
        status = status_from_provider(details.status if details else "OK") or "connected"
        self.set_status(
            workspace_id,
            account_id,
            status,
            reason="hosted auth completed",
            source=source,
            provider_status=details.status if details else "OK",
            link=details or ProviderAccount(provider_account_id, "", "OK", None, None, None),
        )
        return True

    def link_existing(
        self, workspace_id: str, provider_account_id: str, *, source: TransitionSource = "seed"
    ) -> LinkedInAccount:
        """A row for an account the provider already holds (the local stack's demo account): created `connecting`,
        then linked and flipped through the status helper like a hosted-auth callback."""
        now = self._now()
        account = LinkedInAccount(
            id=prefixed_id("li", 12), workspace_id=workspace_id, status="connecting", created_at=now, updated_at=now
        )
        self._repo.insert(account)
        details = self.provider.get_account(provider_account_id)
        return self.set_status(
            workspace_id,
            account.id,
            status_from_provider(details.status) or "connected",
            reason="linked to an account the provider holds",
            source=source,
            provider_status=details.status,
            link=details,
        )

    def handle_hosted_auth_notify(self, name: str, provider_account_id: str, provider_status: str) -> bool:
        """The hosted-auth notify: a new account's link names its row; a reconnect names the provider's account,
        whose row then takes the provider's current status through the status helper."""
        if parse_hosted_auth_name(name) is not None:
            return self.link_from_notify(name, provider_account_id)
        account = self.find_by_provider_account(provider_account_id)
        if account is None:
            get_logger().warning("linkedin notify for no account of ours", extra={"status": provider_status})
            return False
        details = self._provider_account(provider_account_id)
        self._apply(account, details.status if details else "OK", "callback")
        return True

    def _provider_account(self, provider_account_id: str) -> ProviderAccount | None:
        try:
            return self.provider.get_account(provider_account_id)
        except ProviderError as exc:
            get_logger().warning("linkedin get_account failed", extra={"code": exc.code})
            return None

    # --- the status helper (help center 40.8) --------------------------------------------------------------------
    def set_status(
        self,
        workspace_id: str,
        account_id: str,
        status: AccountStatus,
        *,
        reason: str,
        source: TransitionSource,
        provider_status: str | None = None,
        link: ProviderAccount | None = None,
    ) -> LinkedInAccount:
        """THE way an account's status changes: the status and its audit row in one transaction (retried on a
        concurrent write, re-deciding from what is stored); a flip from `connected` to a status that cannot act
        starts an outage (its start recorded for the 24 h notification) and emits `linkedin.account_disconnected`
        once; a flip back to `connected` ends it; `restricted` switches the account to the `recovery` strategy at
        ramp week 1 from today (help center 36.6). `link` also stores the provider's account details."""
        for _ in range(_FLIP_ATTEMPTS):
            account = self._repo.get(workspace_id, account_id, include_deleted=True)
            if account.status == "deleted" and status != "deleted":
                return account
            now = self._now()
            changes: dict[str, Any] = {"updated_at": now}
            if provider_status is not None:
                changes["provider_status"] = provider_status
            if link is not None:
                changes.update(self._link_changes(account, link, now))
            if account.status == status and link is None:
                return account
            if starts_outage(account.status, status):
                changes.update(disconnected_since=now, outage_notified_at=None)
            elif ends_outage(account.status, status) or status in ("connected", "deleted"):
                changes.update(disconnected_since=None, outage_notified_at=None)
            if status == "restricted" and account.status != "restricted":
                restart = after_restriction(now.astimezone(UTC).date())
                changes.update(strategy=restart.strategy, ramp_started_on=restart.ramp_started_on)
            if status == "deleted":
                changes["deleted_at"] = now
            updated = account.model_copy(update={**changes, "status": status})
            entry = AuditEntry(
                account_id=account_id,
                at=now,
                old_status=account.status,
                new_status=status,
                reason=reason,
                source=source,
                provider_status=provider_status,
            )
            try:
                saved = self._repo.flip(updated, account.version, entry)
            except Stale:
                continue
            if starts_outage(account.status, status):
                self._emit_disconnected(saved, reason)
            return saved
        raise Conflict(f"LinkedIn account {account_id} kept changing; try again.")

    @staticmethod
    def _link_changes(account: LinkedInAccount, link: ProviderAccount, now: datetime) -> dict[str, Any]:
        changes: dict[str, Any] = {"provider_account_id": link.id}
        if link.name:
            changes["name"] = link.name
        if link.public_identifier:
            changes["public_identifier"] = link.public_identifier
            changes["linkedin_url"] = linkedin_url_of(link.public_identifier)
        if link.account_type:
            changes["account_type"] = link.account_type
        if link.provider_id:
            changes["member_id"] = link.provider_id
        if account.ramp_started_on is None:
            changes["ramp_started_on"] = now.astimezone(UTC).date()
        return changes

    def _emit_disconnected(self, account: LinkedInAccount, reason: str) -> None:
        data = {
            "linkedinAccountId": account.id,
            "reason": reason,
            "disconnectedAt": isoformat(account.disconnected_since),
        }
        try:
            emit_event(self._event_service(), account.workspace_id, "linkedin.account_disconnected", data)
        except Exception:
            # The flip is stored; an event that could not be recorded is logged, never a reason to undo the flip.
            get_logger().exception("linkedin.account_disconnected not emitted", extra={"account_id": account.id})

    def apply_provider_status(
        self, provider_account_id: str, provider_status: str, *, source: TransitionSource, workspace_id: str
    ) -> LinkedInAccount | None:
        """A provider status (webhook or health check) for one of the workspace's accounts; None when it decides
        nothing or names no account of ours."""
        account = self._find_by_provider_id(workspace_id, provider_account_id)
        if account is None:
            return None
        return self._apply(account, provider_status, source)

    def _apply(self, account: LinkedInAccount, provider_status: str, source: TransitionSource) -> LinkedInAccount:
        status = status_from_provider(provider_status)
        if status is None or status == account.status:
            return account
        if account.status == "connecting" and status != "connected":
            return account  # the hosted page is still in progress; only a link or the orphan watcher ends it
        return self.set_status(
            account.workspace_id,
            account.id,
            status,
            reason=f"provider status {provider_status}",
            source=source,
            provider_status=provider_status,
        )

    def _find_by_provider_id(self, workspace_id: str, provider_account_id: str) -> LinkedInAccount | None:
        for account in self._all_in_workspace(workspace_id):
            if account.provider_account_id == provider_account_id:
                return account
        return None

    def _all_in_workspace(self, workspace_id: str) -> Iterator[LinkedInAccount]:
        cursor: str | None = None
        while True:
            page = self._repo.list_page(workspace_id, 100, cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def find_by_provider_account(self, provider_account_id: str) -> LinkedInAccount | None:
        """The live account linked to this provider account, whatever its workspace (the webhook ingress)."""
        for workspace_id, account_id in self._repo.by_provider_account(provider_account_id):
            try:
                account = self._repo.get(workspace_id, account_id)
            except NotFound:
                continue
            if account.provider_account_id == provider_account_id:
                return account
        return None

    def handle_status_webhook(self, provider_account_id: str, provider_status: str) -> LinkedInAccount | None:
        account = self.find_by_provider_account(provider_account_id)
        if account is None:
            get_logger().info("linkedin status webhook for no account of ours", extra={"status": provider_status})
            return None
        return self._apply(account, provider_status, "webhook")

    # --- settings -----------------------------------------------------------------------------------------------
    def update(
        self,
        workspace_id: str,
        account_id: str,
        *,
        fields: dict[str, Any],
    ) -> LinkedInAccount:
        """A PATCH: `strategy` (a new one restarts the ramp today), `overrides` (merged into the stored ones, null
        clears one; validated by `linkedin.limits`: safe ceilings, and `risk_acknowledged` true to set any) and
        `proxy`. Only the keys present change."""
        new_strategy = parse_strategy(fields["strategy"]) if "strategy" in fields else None
        cleaned = (
            validate_overrides(fields["overrides"], risk_acknowledged=fields.get("risk_acknowledged"))
            if "overrides" in fields
            else None
        )
        for _ in range(_FLIP_ATTEMPTS):
            account = self._repo.get(workspace_id, account_id)
            now = self._now()
            changes: dict[str, Any] = {"updated_at": now}
            if new_strategy is not None and new_strategy != account.strategy:
                changes.update(strategy=new_strategy, ramp_started_on=now.astimezone(UTC).date())
            if cleaned is not None:
                merged = dict(account.overrides)
                for dimension, value in cleaned.items():
                    if value is None:
                        merged.pop(dimension, None)
                    else:
                        merged[dimension] = value
                changes["overrides"] = merged
                if any(value is not None for value in cleaned.values()):
                    changes["overrides_acknowledged_at"] = now
                elif not merged:
                    changes["overrides_acknowledged_at"] = None
            if "proxy" in fields:
                changes["proxy"] = self._proxy_settings(workspace_id, account_id, fields["proxy"])
            try:
                return self._repo.replace(account.model_copy(update=changes), account.version)
            except Stale:
                continue
        raise Conflict(f"LinkedIn account {account_id} kept changing; try again.")

    def _proxy_settings(self, workspace_id: str, account_id: str, proxy: Any) -> ProxySettings:
        if proxy is None:
            return ProxySettings()
        mode = proxy.get("mode", "auto") if isinstance(proxy, dict) else None
        if mode not in ("auto", "country", "custom"):
            raise ValidationFailed(
                "The proxy is invalid.", details=[field_error("proxy.mode", "one of auto, country, custom")]
            )
        if mode == "auto":
            return ProxySettings()
        if mode == "country":
            country = str(proxy.get("country") or "")
            if len(country) != 2 or not country.isalpha() or not country.isascii():
                raise ValidationFailed(
                    "The proxy is invalid.", details=[field_error("proxy.country", "a two-letter country code")]
                )
            return ProxySettings(mode="country", country=country.upper())
        try:
            custom = parse_custom_proxy(str(proxy.get("url") or ""))
        except InvalidProxy as exc:
            raise ValidationFailed("The proxy is invalid.", details=[field_error("proxy.url", str(exc))]) from exc
        credentials = None
        if custom.username is not None:
            credentials = self._secret_box().encrypt(
                workspace_id, account_id, f"{custom.username}:{custom.password or ''}"
            )
        return ProxySettings(
            mode="custom", protocol=custom.protocol, host=custom.host, port=custom.port, credentials_enc=credentials
        )

    def delete(self, workspace_id: str, account_id: str) -> LinkedInAccount:
        """Remove the account at the provider (a provider 404 means it is already gone there), then soft-delete
        the row through the status helper: it leaves the lists and the sweeps, its audit rows stay."""
        account = self._repo.get(workspace_id, account_id)
        if account.provider_account_id:
            try:
                self.provider.delete_account(account.provider_account_id)
            except ProviderError as exc:
                if exc.code != "not_found":
                    raise ProviderUnavailable(
                        f"The LinkedIn provider did not remove the account ({exc.code}); nothing was deleted."
                    ) from exc
        return self.set_status(workspace_id, account_id, "deleted", reason="deleted through the API", source="api")

    # --- sweeps -------------------------------------------------------------------------------------------------
    def live_account_refs(self) -> list[dict[str, str]]:
        return [{"workspace_id": w, "account_id": a} for w, a in self._repo.live_accounts()]

    def health_check(self, workspace_id: str, account_id: str) -> str:
        """One account against the provider (`get_account`), through the status helper. Returns what happened:
        `unchanged`, `changed`, `skipped` (not linked or connecting), `provider_error`."""
        try:
            account = self._repo.get(workspace_id, account_id)
        except NotFound:
            return "skipped"
        if account.provider_account_id is None or account.status == "connecting":
            return "skipped"
        try:
            remote = self.provider.get_account(account.provider_account_id)
        except ProviderError as exc:
            if exc.code == "not_found":
                saved = self.set_status(
                    workspace_id,
                    account_id,
                    "disconnected",
                    reason="the provider no longer holds the account",
                    source="health_check",
                )
                return "changed" if saved.version != account.version else "unchanged"
            get_logger().warning("linkedin health check failed", extra={"account_id": account_id, "code": exc.code})
            return "provider_error"
        saved = self._apply(account, remote.status, "health_check")
        return "changed" if saved.version != account.version else "unchanged"

    def health_check_all(self) -> SweepResult:
        checked = changed = failed = 0
        for ref in self.live_account_refs():
            try:
                outcome = self.health_check(ref["workspace_id"], ref["account_id"])
            except Exception:
                get_logger().exception("linkedin health check crashed", extra=ref)
                outcome = "provider_error"
            checked += 1
            changed += outcome == "changed"
            failed += outcome == "provider_error"
        return SweepResult(checked, changed, failed)

    def watch_orphans(self) -> SweepResult:
        """Help center 40.5: a row `connecting` for more than 5 minutes whose account the provider holds is linked
        and flipped through the status helper. The provider names the row only in the notify call that went
        missing, so a provider account is matched to a row only when that is unambiguous: an account no live row
        links, created while the row's hosted link was valid, and the only such account for the only such row
        (an account could belong to any workspace: never guess). Ambiguous cases are logged and left."""
        now = self._now()
        orphans: list[LinkedInAccount] = []
        linked: set[str] = set()
        for workspace_id, account_id in self._repo.live_accounts():
            try:
                account = self._repo.get(workspace_id, account_id)
            except NotFound:
                continue
            if account.provider_account_id:
                linked.add(account.provider_account_id)
            elif account.status == "connecting" and now - account.created_at > ORPHAN_AFTER:
                orphans.append(account)
        if not orphans:
            return SweepResult()
        try:
            remote_accounts = self.provider.list_accounts()
        except ProviderError as exc:
            get_logger().warning("linkedin orphan watcher: list_accounts failed", extra={"code": exc.code})
            return SweepResult(len(orphans), 0, 1)
        unlinked = [r for r in remote_accounts if r.id not in linked and status_from_provider(r.status) is not None]

        def candidates(row: LinkedInAccount) -> list[ProviderAccount]:
            named = [r for r in unlinked if parse_hosted_auth_name(r.name) == (row.workspace_id, row.id)]
            if named:
                return named
            window_end = row.created_at + HOSTED_AUTH_VALIDITY
            return [r for r in unlinked if r.created_at is not None and row.created_at <= r.created_at <= window_end]

        matches = {row.id: candidates(row) for row in orphans}
        claimed: dict[str, int] = {}
        for found in matches.values():
            for remote in found:
                claimed[remote.id] = claimed.get(remote.id, 0) + 1
        changed = failed = 0
        for row in orphans:
            found = matches[row.id]
            if len(found) != 1 or claimed[found[0].id] != 1:
                if found:
                    get_logger().warning("linkedin orphan is ambiguous", extra={"account_id": row.id})
                continue
            remote = found[0]
            status = status_from_provider(remote.status)
            assert status is not None
            try:
                self.set_status(
                    row.workspace_id,
                    row.id,
                    status,
                    reason="orphan watcher: the provider holds the account",
                    source="orphan_watcher",
                    provider_status=remote.status,
                    link=remote,
                )
                changed += 1
            except Exception:
                get_logger().exception("linkedin orphan link failed", extra={"account_id": row.id})
                failed += 1
        return SweepResult(len(orphans), changed, failed)

    def notify_long_outages(self, now: datetime | None = None) -> int:
        """Help center 40.2 (4): an account down for more than 24 hours gets one notification per outage, through
        the injected `notify`. The outage is marked notified first (conditional on the version read), so two
        sweeps never both send; a failed send is logged and not retried."""
        at = now or self._now()
        sent = 0
        for workspace_id, account_id in self._repo.outages_since_before(at - OUTAGE_NOTIFY_AFTER):
            try:
                account = self._repo.get(workspace_id, account_id)
            except NotFound:
                continue
            since = account.disconnected_since
            if account.status not in DOWN_STATUSES or since is None or account.outage_notified_at is not None:
                continue
            if at - since <= OUTAGE_NOTIFY_AFTER:
                continue
            try:
                self._repo.mark_notified(account.model_copy(update={"outage_notified_at": at}), account.version)
            except Stale:
                continue
            name = account.name or account.id
            subject = f"Your LinkedIn account {name} needs to be reconnected"
            text = (
                f"Your LinkedIn account {name} has been {account.status.replace('_', ' ')} since "
                f"{isoformat(since)}. Its LinkedIn campaigns are paused and resume by themselves once it is "
                "reconnected. Reconnect it from the LinkedIn accounts page."
            )
            if self._notify is None:
                get_logger().warning("linkedin outage notification has no notifier", extra={"account_id": account_id})
            else:
                try:
                    self._notify(workspace_id, subject, text)
                except Exception:
                    get_logger().exception("linkedin outage notification failed", extra={"account_id": account_id})
                    continue
            sent += 1
        return sent

    # --- limits ---------------------------------------------------------------------------------------------------
    def ramp_week_of(self, account: LinkedInAccount, now: datetime) -> int:
        started = account.ramp_started_on or account.created_at.astimezone(UTC).date()
        return ramp_week(started, now.astimezone(UTC).date())

    def caps(self, account: LinkedInAccount, now: datetime) -> dict[Dimension, int]:
        overrides: dict[Dimension, int] = {d: account.overrides[d] for d in DIMENSIONS if d in account.overrides}
        return effective_caps(account.account_type, account.strategy, self.ramp_week_of(account, now), overrides)

    def standing(self, account: LinkedInAccount, now: datetime) -> tuple[dict[Dimension, int], Activity]:
        """The account's cap usage and its activity tallies (one read)."""
        return self._usage().standing(account.workspace_id, account.id, now)

    def _usage(self) -> UsageRepository:
        if self._usage_repo is None:
            self._usage_repo = UsageRepository()
        return self._usage_repo

    # --- reactions ----------------------------------------------------------------------------------------------
    def react(self, workspace_id: str, post_id: str, account_id: str, reaction_type: str) -> Reaction:
        """React to a post from one of the workspace's connected accounts. The engagement cap is taken BEFORE the
        provider is called (`LimitReached` / `PaceLimited`: 429, nothing sent); a provider failure gives the slot
        back. A provider `credentials`/`checkpoint` answer flips the account through the status helper."""
        kind = reaction_type.strip().lower()
        if kind not in REACTION_TYPES:
            raise ValidationFailed(
                "The reaction type is not supported.",
                details=[field_error("reaction_type", f"one of {', '.join(t.upper() for t in REACTION_TYPES)}")],
            )
        account = self._repo.get(workspace_id, account_id)
        if account.status != "connected" or account.provider_account_id is None:
            raise Conflict(
                f"LinkedIn account {account_id} is {account.status}; it must be connected to react.",
                code="linkedin_account_not_connected",
            )
        now = self._now()
        cap = self.caps(account, now)["engagements_day"]
        reservation = self._usage().reserve(workspace_id, account_id, "engagements_day", cap, now)
        try:
            self.provider.add_post_reaction(account.provider_account_id, post_id, kind)
        except ProviderError as exc:
            self._usage().release(reservation)
            raise self._provider_failure(account, exc, "post") from exc
        reaction = Reaction(
            post_id=post_id,
            account_id=account_id,
            reaction_type=kind.upper(),
            user_id=f"urn:li:person:{account.member_id}" if account.member_id else None,
            name=account.name,
            reacted_at=now,
        )
        tally = partial(
            UsageRepository.add_activity, workspace_id=workspace_id, account_id=account_id, kind="engagements", at=now
        )
        self._repo.put_reaction(workspace_id, reaction, also=[tally])  # the account's tally with the record
        return reaction

    # --- messages (a reply from the unified inbox) ------------------------------------------------------------
    def send_chat_message(
        self, account: LinkedInAccount, text: str, *, chat_id: str | None, member_id: str | None
    ) -> SentMessage:
        """Send `text` into the chat `chat_id` (or start one with `member_id`) from a connected `account`. The
        account's `messages_day` cap and its 2-per-minute pace are taken BEFORE the provider is called
        (`LimitReached` / `PaceLimited`: 429, nothing sent); a provider refusal gives the day's slot back."""
        if account.status != "connected" or account.provider_account_id is None:
            raise Conflict(
                f"LinkedIn account {account.id} is {account.status}; it must be connected to send.",
                code="linkedin_account_not_connected",
            )
        if not chat_id and not member_id:
            raise ValidationFailed("The conversation has no LinkedIn chat or member to send to.")
        now = self._now()
        cap = self.caps(account, now)["messages_day"]
        reservation = self._usage().reserve(account.workspace_id, account.id, "messages_day", cap, now)
        try:
            if chat_id:
                return self.provider.send_message(chat_id, text)
            return self.provider.start_chat(account.provider_account_id, member_id or "", text)
        except ProviderError as exc:
            self._usage().release(reservation)
            raise self._provider_failure(account, exc, "chat") from exc

    def _provider_failure(self, account: LinkedInAccount, exc: ProviderError, what: str) -> Exception:
        if exc.code in ("credentials", "checkpoint"):
            status: AccountStatus = "disconnected" if exc.code == "credentials" else "needs_verification"
            self.set_status(
                account.workspace_id,
                account.id,
                status,
                reason=f"provider answered {exc.code}",
                source="api",
                provider_status=exc.provider_type,
            )
            return Conflict(
                f"LinkedIn account {account.id} needs to be reconnected ({exc.code}).",
                code="linkedin_account_not_connected",
            )
        if exc.code == "not_found":
            return NotFound(f"The LinkedIn {what} was not found.")
        if exc.code == "invalid":
            return ValidationFailed(f"The LinkedIn provider refused the request: {exc.message}")
        if exc.code == "rate_limited":
            wait = exc.retry_after_seconds or 60
            return RateLimited(
                "The LinkedIn provider is rate limiting this account.", retry_after=wait, limit=0, reset_at=0
            )
        return ProviderUnavailable(f"The LinkedIn provider could not do it ({exc.code}); nothing was counted.")

    def reactions(self, workspace_id: str, post_id: str, limit: int, cursor: str | None) -> ReactionPage:
        return self._repo.reactions_page(workspace_id, post_id, limit, cursor)
