"""Bounce Shield settings (stored per workspace) and the PATCH body. Defaults: decisions.md "Bounce Shield"."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kindling.bounceshield.rules import WindowType
from kindling.platform.models import PatchModel

DEFAULT_THRESHOLD_PERCENT = 8.0  # help center: "lower the threshold to 5% if you are very cautious"
DEFAULT_WINDOW_TYPE: WindowType = "sends"
DEFAULT_WINDOW_SENDS = 100
DEFAULT_WINDOW_HOURS = 24
THRESHOLD_MIN, THRESHOLD_MAX = 1.0, 50.0
WINDOW_SENDS_MIN, WINDOW_SENDS_MAX = 20, 10_000
WINDOW_HOURS_MIN, WINDOW_HOURS_MAX = 1, 168  # buckets live 8 days


class BounceShieldSettings(BaseModel):
    enabled: bool = True
    threshold_percent: float = DEFAULT_THRESHOLD_PERCENT
    window_type: WindowType = DEFAULT_WINDOW_TYPE
    window_sends: int = DEFAULT_WINDOW_SENDS
    window_hours: int = DEFAULT_WINDOW_HOURS
    auto_pause: bool = True
    auto_blocklist: bool = True
    notify: bool = True


class BounceShieldState(BaseModel):
    settings: BounceShieldSettings = Field(default_factory=BounceShieldSettings)
    activations: int = 0
    last_activated_at: datetime | None = None
    updated_at: datetime | None = None


class BounceShieldUpdate(PatchModel):
    """PATCH /bounce-shield: only the fields sent change; none may be null."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    enabled: bool | None = None
    threshold_percent: float | None = Field(
        default=None, ge=THRESHOLD_MIN, le=THRESHOLD_MAX, description="Activate above this bounce rate (percent)."
    )
    window_type: WindowType | None = Field(default=None, description="Judge the last `windowSends` sends or hours.")
    window_sends: int | None = Field(default=None, ge=WINDOW_SENDS_MIN, le=WINDOW_SENDS_MAX)
    window_hours: int | None = Field(default=None, ge=WINDOW_HOURS_MIN, le=WINDOW_HOURS_MAX)
    auto_pause: bool | None = None
    auto_blocklist: bool | None = None
    notify: bool | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = (
        "enabled",
        "threshold_percent",
        "window_type",
        "window_sends",
        "window_hours",
        "auto_pause",
        "auto_blocklist",
        "notify",
    )

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}
