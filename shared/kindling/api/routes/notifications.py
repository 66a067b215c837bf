"""Notification settings: where Kindling emails the workspace (Kindling's extension; decisions.md "Notification
emails"). camelCase like campaigns; the mailbox scopes, since the emails are mostly about mailbox outages."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kindling.api.envelope import respond
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, Timestamp
from kindling.notifications.models import NotificationSettings, NotificationSettingsUpdate
from kindling.notifications.service import NotificationService

router = api_router("Notifications")


class NotificationSettingsView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    notification_email: str | None = Field(
        description="Where notification emails go: a mailbox disconnected for 24 hours (once per outage), Bounce "
        "Shield activated (with its `notify` on). Sent through SES when the stack configures a sender, else "
        "through one of the workspace's connected mailboxes. null: none."
    )
    updated_at: Timestamp | None


def view(settings: NotificationSettings) -> NotificationSettingsView:
    return NotificationSettingsView(notification_email=settings.notification_email, updated_at=settings.updated_at)


@router.get(
    "/notification-settings",
    response_model=Envelope[NotificationSettingsView],
    openapi_extra=scope("mailboxes:read"),
    summary="Get the notification settings",
)
def get_notification_settings(workspace_id: WorkspaceId) -> JSONResponse:
    return respond(view(NotificationService().get(workspace_id)))


@router.patch(
    "/notification-settings",
    response_model=Envelope[NotificationSettingsView],
    openapi_extra=scope("mailboxes:write"),
    summary="Update the notification settings",
    description="`notificationEmail`: an email address, or null for no notification emails.",
)
def update_notification_settings(workspace_id: WorkspaceId, body: NotificationSettingsUpdate) -> JSONResponse:
    return respond(view(NotificationService().update(workspace_id, body)))


__all__ = ["router"]
