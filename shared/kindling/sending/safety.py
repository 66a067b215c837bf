"""Campaign safety (decisions.md): a running campaign goes to `cooldown` when its bounce rate is above 5% with
at least 50 sends, or it has 3 or more spam complaints; it is re-checked 24 hours later.

Decided here, as the help center leaves it open:
- the rates are measured since a baseline: the campaign's start at first, then the end of its last cooldown,
  so a campaign that served its cooldown is not sent straight back by the same old bounces;
- "better" at the re-check means no new bounce and no new complaint arrived during the cooldown (late bounce
  reports of sends made before it count against it): then the campaign resumes (`recover`) with a new
  baseline; otherwise the cooldown is extended by another 24 hours;
- a cooldown is extended at most `MAX_COOLDOWN_EXTENSIONS` (2) times: the third failed re-check in a row (72 hours
  of cooldown without a clean day) pauses the campaign with `pausedReason` `safety_cooldown` (issue 15). The engine
  never resumes that pause; the user looks at the list and starts the campaign again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from kindling.campaigns.repository import CampaignRepository
from kindling.campaigns.service import CampaignService
from kindling.enrollments.service import campaign_service
from kindling.platform.errors import InvalidStatus, NotFound
from kindling.platform.observability import get_logger
from kindling.sending.repository import CampaignStateItem, SendingRepository

BOUNCE_RATE_LIMIT = 0.05
MIN_SENDS = 50
COMPLAINT_LIMIT = 3
COOLDOWN = timedelta(hours=24)
MAX_COOLDOWN_EXTENSIONS = 2
SAFETY_PAUSE_REASON = "safety_cooldown"

Verdict = Literal["ok", "bounce_rate", "spam_complaints"]
Recheck = Literal["recover", "extend", "pause"]


@dataclass(frozen=True)
class Tally:
    sent: int
    bounced: int
    complaints: int

    def since(self, base: Tally) -> Tally:
        return Tally(
            max(0, self.sent - base.sent),
            max(0, self.bounced - base.bounced),
            max(0, self.complaints - base.complaints),
        )


def assess(recent: Tally) -> Verdict:
    """Pure: should a running campaign cool down, given what happened since its baseline?"""
    if recent.complaints >= COMPLAINT_LIMIT:
        return "spam_complaints"
    if recent.sent >= MIN_SENDS and recent.bounced > BOUNCE_RATE_LIMIT * recent.sent:
        return "bounce_rate"
    return "ok"


def recovered(at_cooldown: Tally, now: Tally) -> bool:
    """Pure: at the re-check, did the cooldown stay clean (no new bounce, no new complaint)?"""
    return now.bounced <= at_cooldown.bounced and now.complaints <= at_cooldown.complaints


def after_recheck(clean: bool, extensions: int) -> Recheck:
    """Pure: what a due re-check does, given whether the cooldown stayed clean and how many times it was already
    extended in a row."""
    if clean:
        return "recover"
    return "extend" if extensions < MAX_COOLDOWN_EXTENSIONS else "pause"


def baseline_of(state: CampaignStateItem | None) -> Tally:
    if state is None:
        return Tally(0, 0, 0)
    return Tally(int(state.base_sent or 0), int(state.base_bounced or 0), int(state.base_complaints or 0))


class CampaignSafety:
    def __init__(
        self,
        repository: SendingRepository | None = None,
        campaigns: CampaignRepository | None = None,
        service: CampaignService | None = None,
    ) -> None:
        self._repo = repository or SendingRepository()
        self._campaigns = campaigns or CampaignRepository()
        self._service = service

    @property
    def service(self) -> CampaignService:
        if self._service is None:
            self._service = campaign_service(repository=self._campaigns)
        return self._service

    def check(self, workspace_id: str, campaign_id: str, now: datetime) -> str | None:
        """Apply the rules to the campaign as it stands; returns the transition made (cooldown / recover /
        extend) or None."""
        try:
            record = self._campaigns.get(workspace_id, campaign_id)
        except NotFound:
            return None
        state = self._repo.campaign_state(workspace_id, campaign_id)
        tally = Tally(record.stats.sent, record.stats.bounced, int(state.complaints or 0) if state else 0)
        if record.status == "running":
            verdict = assess(tally.since(baseline_of(state)))
            if verdict == "ok":
                return None
            try:
                self.service.transition(workspace_id, campaign_id, "cooldown", reason=verdict)
            except InvalidStatus:
                return None
            # The tally at cooldown becomes the baseline: the re-check compares with it.
            self._repo.set_cooldown(
                workspace_id,
                campaign_id,
                now + COOLDOWN,
                baseline=(tally.sent, tally.bounced, tally.complaints),
                extensions=0,
            )
            get_logger().warning(
                "campaign sent to cooldown", extra={"campaign_id": campaign_id, "reason": verdict, "tally": str(tally)}
            )
            return "cooldown"
        if record.status == "cooldown" and state is not None and state.cooldown_until is not None:
            if now < state.cooldown_until:
                return None
            outcome = after_recheck(recovered(baseline_of(state), tally), int(state.cooldown_extensions or 0))
            baseline = (tally.sent, tally.bounced, tally.complaints)
            if outcome == "recover":
                try:
                    self.service.transition(workspace_id, campaign_id, "recover", reason="cooldown_passed")
                except InvalidStatus:
                    return None
                self._repo.set_cooldown(workspace_id, campaign_id, None, baseline=baseline, extensions=0)
                return "recover"
            if outcome == "pause":
                try:
                    self.service.auto_pause(workspace_id, campaign_id, SAFETY_PAUSE_REASON)
                except InvalidStatus:
                    return None
                self._repo.set_cooldown(workspace_id, campaign_id, None, baseline=baseline, extensions=0)
                get_logger().warning(
                    "campaign paused after its cooldown never cleared",
                    extra={"campaign_id": campaign_id, "reason": SAFETY_PAUSE_REASON, "tally": str(tally)},
                )
                return "pause"
            self._repo.set_cooldown(
                workspace_id,
                campaign_id,
                now + COOLDOWN,
                baseline=baseline,
                extensions=int(state.cooldown_extensions or 0) + 1,
            )
            return "extend"
        return None
