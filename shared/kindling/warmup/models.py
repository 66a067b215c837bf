"""Warmup shapes: the per-mailbox warmup state, the settings request bodies and the stats view (snake_case, as
the reference's Warmup section).

Where each warmup field lives (one home per field):
- on the mailbox item (the mailbox API shows them, the connection checker's `auto_enable_warmup` sets the first):
  `warmup_enabled`, `warmup_type` (the ramp speed: conservative / normal / aggressive) and `warmup_progress`
  (kept equal to `progress_for(state, speed)` by every writer of the state);
- on the warmup state item (`WarmupState`): the other settings (target, strategy override, window, reply rate)
  and the engine's state (strategy, ramp days, the strategy Recovery resumes, the stored health score).

Request fields beyond the reference's three (`warmup_enabled`, `warmup_type`, `warmup_target_daily_volume`):
- `warmup_strategy`: `auto` lets the engine move between strategies; any strategy pins the mailbox to it from now
  on (the change is recorded with reason `manual_override`) until it is set back to `auto`;
- `warmup_window_start_hour` / `warmup_window_end_hour` (local hours, [start, end), start > end runs overnight;
  default 0-24, all day) and `warmup_timezone` (IANA; default the workspace's timezone);
- `warmup_reply_rate`: the percentage of received warmup emails this mailbox replies to (default 30).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from kindling.platform.models import PatchModel
from kindling.warmup.content import DEFAULT_REPLY_SHARE
from kindling.warmup.counters import DailyCounters
from kindling.warmup.health import Band
from kindling.warmup.ramp import RampSpeed, RampState, Strategy, progress

StrategySetting = Literal["auto", "new_domain", "new_mailbox", "maintenance", "recovery"]
TARGET_MIN, TARGET_MAX = 1, 100
# The help center recommends starting the Daily Volume at 5-10 (L4440); the ramp never exceeds the target.
DEFAULT_TARGET = 10
DEFAULT_REPLY_RATE = round(DEFAULT_REPLY_SHARE * 100)
MAX_BULK_MAILBOXES = 1000
JOB_TYPE = "bulk_warmup_update"  # the reference's job type (GET /jobs/{id} example)
MANUAL_OVERRIDE = "manual_override"  # strategy_reason of a change made through warmup_strategy


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


Timezone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_timezone)]


class WarmupState(BaseModel):
    """The stored warmup item of one mailbox; a mailbox without one has these defaults."""

    workspace_id: str
    mailbox_id: str
    # settings
    target_daily_volume: int = DEFAULT_TARGET
    strategy_override: Strategy | None = None  # None: auto
    window_start_hour: int = 0
    window_end_hour: int = 24
    timezone: str | None = None  # None: the workspace's timezone
    reply_rate: int = DEFAULT_REPLY_RATE
    # engine state
    strategy: Strategy = "new_domain"
    ramp_day: int = 1
    maintenance_day: int = 1
    resume_strategy: Strategy | None = None
    health_score: int | None = None
    health_band: Band | None = None
    health_computed_at: datetime | None = None
    strategy_reason: str | None = None
    strategy_changed_at: datetime | None = None
    started_at: datetime | None = None  # the first time warmup was on for this mailbox (the ramp's day 1)
    version: int = 0  # optimistic concurrency on the stored item; 0 = not stored yet
    updated_at: datetime | None = None

    def ramp_state(self, speed: RampSpeed) -> RampState:
        return RampState(
            strategy=self.strategy,
            speed=speed,
            ramp_day=self.ramp_day,
            maintenance_day=self.maintenance_day,
            resume_strategy=self.resume_strategy,
        )


@dataclass(frozen=True)
class DayRow:
    """One stored day of a mailbox's warmup counters and the time of its last warmup send that day."""

    counters: DailyCounters
    last_sent_at: datetime | None = None


def as_speed(warmup_type: str) -> RampSpeed:
    """The mailbox's `warmup_type` as a ramp speed (anything unknown reads as the default, normal)."""
    if warmup_type == "conservative":
        return "conservative"
    if warmup_type == "aggressive":
        return "aggressive"
    return "normal"


def progress_for(state: WarmupState, speed: RampSpeed) -> int:
    """`warmup_progress`: 0 until warmup first runs, then the ramp's progress towards min(target, cap)."""
    if state.started_at is None:
        return 0
    return progress(state.ramp_state(speed), state.target_daily_volume)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


_NOT_NULLABLE = (
    "warmup_enabled",
    "warmup_type",
    "warmup_target_daily_volume",
    "warmup_strategy",
    "warmup_window_start_hour",
    "warmup_window_end_hour",
    "warmup_timezone",
    "warmup_reply_rate",
)


class WarmupSettingsUpdate(_Strict, PatchModel):
    """PATCH /warmup/settings/{id} and the bulk update's `updates`: only the fields sent change."""

    warmup_enabled: bool | None = Field(default=None, description="Enabling requires a connected mailbox.")
    warmup_type: RampSpeed | None = Field(
        default=None, description="Ramp speed; `aggressive` only for established domains (not New Domain)."
    )
    warmup_target_daily_volume: int | None = Field(default=None, ge=TARGET_MIN, le=TARGET_MAX)
    warmup_strategy: StrategySetting | None = Field(
        default=None, description="`auto`, or a strategy the mailbox is pinned to until set back to `auto`."
    )
    warmup_window_start_hour: int | None = Field(default=None, ge=0, le=23)
    warmup_window_end_hour: int | None = Field(default=None, ge=1, le=24)
    warmup_timezone: Timezone | None = None
    warmup_reply_rate: int | None = Field(
        default=None, ge=0, le=100, description="Percent of received warmup emails answered."
    )

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = _NOT_NULLABLE

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class BulkWarmupUpdate(_Strict):
    mailbox_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_BULK_MAILBOXES
    )
    updates: WarmupSettingsUpdate

    @model_validator(mode="after")
    def _some_update(self) -> BulkWarmupUpdate:
        if not self.updates.model_fields_set:
            raise ValueError("updates: at least one setting is required")
        return self
