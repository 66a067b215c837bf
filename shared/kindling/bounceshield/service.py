"""Bounce Shield and the failure-rate guard, fed by the sender after each batch (`observe`).

When the workspace's bounce rate over its window exceeds the threshold, the shield activates once (a conditional
write): with auto-pause the campaigns that bounced in the window pause with `bounce_shield`; with auto-blocklist
the window's bounced addresses are suppressed (Kindling suppresses every hard bounce anyway, so this is the
guarantee that every address the shield counted is on the list, even when a bounce's own suppression failed);
with notify a `bounce_shield.activated` webhook event goes out. A campaign whose attempts over 24 hours fail for
reasons other than bounces more than 25% of the time (20 attempts at least) pauses with `high_failure_rate`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from kindling.bounceshield import rules
from kindling.bounceshield.models import BounceShieldState, BounceShieldUpdate
from kindling.bounceshield.repository import BounceShieldRepository
from kindling.campaigns.service import CampaignService
from kindling.enrollments.service import campaign_service
from kindling.events.catalog import emit_event
from kindling.events.service import EventService
from kindling.notifications.service import Notifier
from kindling.platform.clock import Clock, get_clock, isoformat
from kindling.platform.errors import InvalidStatus, NotFound
from kindling.platform.observability import get_logger
from kindling.suppressions.service import SuppressionService

BOUNCE_SHIELD_REASON = "bounce_shield"
HIGH_FAILURE_REASON = "high_failure_rate"


AttemptKind = Literal["sent", "bounced", "failed", "deferred"]


@dataclass(frozen=True)
class Attempt:
    """One message the sender tried: `sent`, `bounced` (hard bounce; counts as sent), `failed` (refused for any
    other reason: rejected, soft refusal, authentication or connection failure) or `deferred` (a rate limit: the
    provider's pacing, counted as an attempt but not as a failure)."""

    workspace_id: str
    campaign_id: str
    recipient: str
    kind: AttemptKind


@dataclass
class Activation:
    window: rules.Window
    paused: list[str] = field(default_factory=list)
    blocklisted: int = 0


class BounceShieldService:
    def __init__(
        self,
        repository: BounceShieldRepository | None = None,
        campaigns: CampaignService | None = None,
        clock: Clock | None = None,
        events: EventService | None = None,
    ) -> None:
        self._repo = repository or BounceShieldRepository()
        self._campaigns = campaigns
        self._clock = clock
        self._events = events

    @property
    def campaigns(self) -> CampaignService:
        if self._campaigns is None:
            self._campaigns = campaign_service()
        return self._campaigns

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    # --- settings ----------------------------------------------------------------------------------------------
    def get(self, workspace_id: str) -> BounceShieldState:
        return self._repo.state(workspace_id)

    def update(self, workspace_id: str, body: BounceShieldUpdate) -> BounceShieldState:
        current = self._repo.state(workspace_id)
        settings = current.settings.model_copy(update=body.changes())
        if settings == current.settings:
            return current  # nothing changes: nothing is written (`updatedAt` stays)
        self._repo.save_settings(workspace_id, settings, self._now())
        return self._repo.state(workspace_id)

    # --- the sender's report -----------------------------------------------------------------------------------
    def observe(self, attempts: Sequence[Attempt], now: datetime) -> list[Activation]:
        """Count one batch's attempts, then judge: the shield for workspaces that had a bounce, the failure-rate
        guard for campaigns that had a failure. Returns the activations made."""
        by_workspace: dict[str, list[Attempt]] = defaultdict(list)
        by_campaign: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
        for attempt in attempts:
            by_workspace[attempt.workspace_id].append(attempt)
            by_campaign[(attempt.workspace_id, attempt.campaign_id)].append(attempt)
        activations: list[Activation] = []
        for workspace_id, done in by_workspace.items():
            bounced = [(a.recipient, a.campaign_id) for a in done if a.kind == "bounced"]
            delivered = sum(1 for a in done if a.kind in ("sent", "bounced"))
            if not delivered:
                continue
            self._repo.record(workspace_id, now, delivered, bounced)
            if bounced:
                activation = self.evaluate(workspace_id, now)
                if activation is not None:
                    activations.append(activation)
        for (workspace_id, campaign_id), done in by_campaign.items():
            failed = sum(1 for a in done if a.kind == "failed")
            self._repo.record_attempts(workspace_id, campaign_id, now, len(done), failed)
            if failed:
                self.check_failure_rate(workspace_id, campaign_id, now)
        return activations

    def late_bounce(self, workspace_id: str, campaign_id: str, email: str, now: datetime) -> Activation | None:
        """A bounce reported after the send (a DSN found by inbox sync): counted in the current hour, then judged."""
        self._repo.record(workspace_id, now, 0, [(email, campaign_id)])
        return self.evaluate(workspace_id, now)

    def evaluate(self, workspace_id: str, now: datetime) -> Activation | None:
        state = self._repo.state(workspace_id)
        settings = state.settings
        if not settings.enabled:
            return None
        # An hours window reads its hours; a sends window may reach back as far as the buckets live (7 days).
        span = settings.window_hours if settings.window_type == "hours" else 7 * 24
        items = self._repo.buckets(workspace_id, now, now - timedelta(hours=span))
        buckets = [self._repo.as_bucket(i) for i in items]
        window = rules.window_of(
            buckets, settings.window_type, settings.window_sends, settings.window_hours, now, state.last_activated_at
        )
        if not rules.tripped(window, settings.threshold_percent, settings.window_type, settings.window_sends):
            return None
        if not self._repo.activate(workspace_id, state.activations, now):
            return None  # another sender activated it first
        chosen = set(window.hours)
        in_window = [i for i in items if self._repo.as_bucket(i).hour in chosen]
        emails = sorted({e for i in in_window for e in (i.emails or set())})
        campaign_ids = sorted({c for i in in_window for c in (i.campaigns or set())})
        activation = Activation(window)
        log = get_logger()
        log.warning(
            "Bounce Shield activated",
            extra={"workspace_id": workspace_id, "sent": window.sent, "bounced": window.bounced},
        )
        if settings.auto_pause:
            for campaign_id in campaign_ids:
                try:
                    self.campaigns.auto_pause(workspace_id, campaign_id, BOUNCE_SHIELD_REASON)
                except (InvalidStatus, NotFound):
                    continue  # already paused, finished or gone
                activation.paused.append(campaign_id)
        if settings.auto_blocklist and emails:
            result = SuppressionService(events=self._events).suppress_emails(
                workspace_id, emails, reason=BOUNCE_SHIELD_REASON, source=BOUNCE_SHIELD_REASON
            )
            activation.blocklisted = result.suppressed_count
        if settings.notify:
            data: dict[str, object] = {
                "bounceRate": window.rate_percent,
                "thresholdPercent": settings.threshold_percent,
                "sent": window.sent,
                "bounced": window.bounced,
                "activatedAt": isoformat(now),
                "windowType": settings.window_type,
                "pausedCampaignIds": activation.paused,
                "blocklistedCount": activation.blocklisted,
            }
            data["windowSends" if settings.window_type == "sends" else "windowHours"] = (
                settings.window_sends if settings.window_type == "sends" else settings.window_hours
            )
            events = self._events or EventService()
            emit_event(events, workspace_id, "bounce_shield.activated", dict(data), now=now)
            self._notify(workspace_id, window.rate_percent, settings.threshold_percent, activation, now)
        return activation

    def _notify(self, workspace_id: str, rate: float, threshold: float, activation: Activation, now: datetime) -> None:
        """One email to the workspace's notification address per activation (the activation is a conditional
        write, so this runs once); a failed email is logged, never undoes the activation."""
        subject = f"Bounce Shield activated: bounce rate {rate:g}% (threshold {threshold:g}%)"
        text = (
            f"Bounce Shield activated at {isoformat(now)}: the bounce rate reached {rate:g}%, above your "
            f"{threshold:g}% threshold.\n\nCampaigns paused: {len(activation.paused)}. "
            f"Addresses added to the suppression list: {activation.blocklisted}.\n"
            "Review your lists, then resume the campaigns.\n"
        )
        try:
            Notifier().send(workspace_id, subject, text, now)
        except Exception:
            get_logger().exception("Bounce Shield notification email failed", extra={"workspace_id": workspace_id})

    def check_failure_rate(self, workspace_id: str, campaign_id: str, now: datetime) -> bool:
        attempts, failed = self._repo.attempts_since(workspace_id, campaign_id, now - rules.FAILURE_WINDOW)
        if not rules.failure_rate_tripped(attempts, failed):
            return False
        try:
            self.campaigns.auto_pause(workspace_id, campaign_id, HIGH_FAILURE_REASON)
        except (InvalidStatus, NotFound):
            return False
        self._repo.reset_failures(workspace_id, campaign_id, now)
        get_logger().warning(
            "campaign paused for its failure rate",
            extra={"campaign_id": campaign_id, "attempts": attempts, "failed": failed},
        )
        return True

    def reset_failure_window(self, workspace_id: str, campaign_id: str) -> None:
        """For the reconnect sweep: failures from a dead mailbox's outage must not pause the campaign again."""
        self._repo.reset_failures(workspace_id, campaign_id, self._now())
