"""Bounce Shield (help center §14 "Settings > Bounce Shield"): read and update the workspace's settings.

Kindling's extension (the reference documents the feature, not an endpoint): camelCase like campaigns, and the
campaign scopes, since the shield pauses campaigns (decisions.md "Bounce Shield").
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kindling.api.envelope import respond
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, Timestamp
from kindling.bounceshield.models import BounceShieldState, BounceShieldUpdate
from kindling.bounceshield.rules import WindowType
from kindling.bounceshield.service import BounceShieldService

router = api_router("Bounce Shield")


class BounceShieldView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    enabled: bool
    threshold_percent: float = Field(description="Activates when the window's bounce rate is above this (percent).")
    window_type: WindowType = Field(description="`sends`: the last `windowSends` sends; `hours`: `windowHours`.")
    window_sends: int
    window_hours: int
    auto_pause: bool = Field(description="Pause the campaigns that bounced in the window (`pausedReason` "
                             "`bounce_shield`).")  # fmt: skip
    auto_blocklist: bool = Field(description="Add the window's bounced addresses to the suppression list.")
    notify: bool = Field(
        description="Send the `bounce_shield.activated` webhook event and one email to the workspace's "
        "`notificationEmail`."
    )
    activations: int
    last_activated_at: Timestamp | None
    updated_at: Timestamp | None


def view(state: BounceShieldState) -> BounceShieldView:
    return BounceShieldView(
        **state.settings.model_dump(),
        activations=state.activations,
        last_activated_at=state.last_activated_at,
        updated_at=state.updated_at,
    )


@router.get(
    "/bounce-shield",
    response_model=Envelope[BounceShieldView],
    openapi_extra=scope("campaigns:read"),
    summary="Get Bounce Shield settings",
)
def get_bounce_shield(workspace_id: WorkspaceId) -> JSONResponse:
    return respond(view(BounceShieldService().get(workspace_id)))


@router.patch(
    "/bounce-shield",
    response_model=Envelope[BounceShieldView],
    openapi_extra=scope("campaigns:write"),
    summary="Update Bounce Shield settings",
    description="Only the fields sent change; none may be null. `thresholdPercent` 1-50, `windowSends` 20-10,000, "
    "`windowHours` 1-168.",
)
def update_bounce_shield(workspace_id: WorkspaceId, body: BounceShieldUpdate) -> JSONResponse:
    return respond(view(BounceShieldService().update(workspace_id, body)))


__all__ = ["router"]
