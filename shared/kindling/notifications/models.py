"""The workspace's notification settings: where notification emails go (camelCase over the API)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kindling.mailboxes.models import EmailAddress


class NotificationSettings(BaseModel):
    notification_email: str | None = None
    updated_at: datetime | None = None


class NotificationSettingsUpdate(BaseModel):
    """PATCH body: `notificationEmail` an address, or null to stop notification emails."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    notification_email: EmailAddress | None = Field(
        description="Where Kindling emails the workspace (a mailbox disconnected for 24 hours, Bounce Shield "
        "activated); null: no notification emails (the webhook events still go out)."
    )
