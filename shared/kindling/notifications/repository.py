"""Notification settings in DynamoDB: pk `ws#NOTIFY` sk `#`, the notification address and when it changed."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist

from kindling.notifications.models import NotificationSettings
from kindling.platform import table
from kindling.platform.dynamo import TableModel, bind_models
from kindling.platform.keys import notification_settings_pk


class NotificationSettingsItem(TableModel):
    notification_email = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class NotificationRepository:
    def __init__(self) -> None:
        bind_models()

    def get(self, workspace_id: str) -> NotificationSettings:
        try:
            item = NotificationSettingsItem.get(
                notification_settings_pk(workspace_id), table.ITEM_SK, consistent_read=True
            )
        except DoesNotExist:
            return NotificationSettings()
        return NotificationSettings(notification_email=item.notification_email, updated_at=item.updated_at)

    def save(self, workspace_id: str, email: str | None, now: datetime) -> NotificationSettings:
        """Store the address; an unchanged one writes nothing (and keeps when it last changed)."""
        current = self.get(workspace_id)
        if current.updated_at is not None and current.notification_email == email:
            return current
        if current.updated_at is None and email is None:
            return current
        NotificationSettingsItem(
            pk=notification_settings_pk(workspace_id), sk=table.ITEM_SK, notification_email=email, updated_at=now
        ).save()
        return NotificationSettings(notification_email=email, updated_at=now)
