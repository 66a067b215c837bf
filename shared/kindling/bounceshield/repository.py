"""Bounce Shield in DynamoDB.

- settings and state: pk `ws#BOUNCESHIELD` sk `#`; the settings as JSON, `activations` (a counter every activation
  moves with a condition on the value read, so concurrent senders activate the shield once), `last_activated_at`.
- hour buckets:       pk `ws#BOUNCESHIELD` sk `H#<hour>`; sent / bounced ADDed once per sender batch, the bounced
  addresses and the campaigns they belong to as string sets; they expire after 8 days.
- failure buckets:    pk `ws#FAILRATE#<campaign id>` sk `H#<hour>`; attempts / failed ADDed per batch, expiring
  after 2 days; sk `#` holds `since`, the instant the window was last reset (a pause for the failure rate).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from kindling.bounceshield.models import BounceShieldSettings, BounceShieldState
from kindling.bounceshield.rules import Bucket, hour_of
from kindling.platform import table
from kindling.platform.dynamo import TableModel, bind_models, condition_failed
from kindling.platform.keys import bounce_shield_pk, campaign_failures_pk, hour_bucket_sk, hour_of_bucket

BUCKET_LIFETIME = timedelta(days=8)
FAILURE_BUCKET_LIFETIME = timedelta(days=2)


class ShieldItem(TableModel):
    body = UnicodeAttribute(null=True)  # the settings as JSON (absent: the defaults)
    activations = NumberAttribute(null=True)
    last_activated_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class ShieldBucketItem(TableModel):
    sent = NumberAttribute(null=True)
    bounced = NumberAttribute(null=True)
    emails = UnicodeSetAttribute(null=True)
    campaigns = UnicodeSetAttribute(null=True)


class FailureItem(TableModel):
    attempts = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    since = UTCDateTimeAttribute(null=True)


class BounceShieldRepository:
    def __init__(self) -> None:
        bind_models()

    # --- settings and state ------------------------------------------------------------------------------------
    def state(self, workspace_id: str) -> BounceShieldState:
        try:
            item = ShieldItem.get(bounce_shield_pk(workspace_id), table.ITEM_SK, consistent_read=True)
        except DoesNotExist:
            return BounceShieldState()
        settings = BounceShieldSettings.model_validate(json.loads(item.body)) if item.body else BounceShieldSettings()
        return BounceShieldState(
            settings=settings,
            activations=int(item.activations or 0),
            last_activated_at=item.last_activated_at,
            updated_at=item.updated_at,
        )

    def save_settings(self, workspace_id: str, settings: BounceShieldSettings, now: datetime) -> None:
        body = json.dumps(settings.model_dump(mode="json"), separators=(",", ":"))
        ShieldItem(pk=bounce_shield_pk(workspace_id), sk=table.ITEM_SK).update(
            actions=[ShieldItem.body.set(body), ShieldItem.updated_at.set(now)]
        )

    def activate(self, workspace_id: str, seen_activations: int, now: datetime) -> bool:
        """Record one activation if nobody activated since `seen_activations` was read; False otherwise."""
        item = ShieldItem(pk=bounce_shield_pk(workspace_id), sk=table.ITEM_SK)
        condition = ShieldItem.activations == seen_activations
        if seen_activations == 0:
            condition = condition | ShieldItem.activations.does_not_exist()
        try:
            item.update(
                actions=[ShieldItem.activations.add(1), ShieldItem.last_activated_at.set(now)], condition=condition
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    # --- hour buckets --------------------------------------------------------------------------------------------
    def record(self, workspace_id: str, at: datetime, sent: int, bounced: Iterable[tuple[str, str]] = ()) -> None:
        """Add one batch's sends and its (address, campaign id) bounces to the hour's bucket (one update)."""
        pairs = list(bounced)
        hour = hour_of(at)
        actions: list[Action] = [
            ShieldBucketItem.sent.add(sent),
            ShieldBucketItem.bounced.add(len(pairs)),
            ShieldBucketItem.expires_at.set(int((hour + BUCKET_LIFETIME).timestamp())),
        ]
        if pairs:
            actions += [
                ShieldBucketItem.emails.add({email for email, _ in pairs}),
                ShieldBucketItem.campaigns.add({campaign for _, campaign in pairs}),
            ]
        ShieldBucketItem(pk=bounce_shield_pk(workspace_id), sk=hour_bucket_sk(hour)).update(actions=actions)

    def buckets(self, workspace_id: str, newest: datetime, oldest: datetime) -> list[ShieldBucketItem]:
        """The buckets from `oldest` to `newest` (hours), newest first."""
        key = ShieldBucketItem.sk.between(hour_bucket_sk(oldest), hour_bucket_sk(newest))
        pk = bounce_shield_pk(workspace_id)
        return list(ShieldBucketItem.query(pk, key, scan_index_forward=False, consistent_read=True))

    @staticmethod
    def as_bucket(item: ShieldBucketItem) -> Bucket:
        hour = hour_of_bucket(item.sk)
        return Bucket(hour, int(item.sent or 0), int(item.bounced or 0))

    # --- failure rate --------------------------------------------------------------------------------------------
    def record_attempts(self, workspace_id: str, campaign_id: str, at: datetime, attempts: int, failed: int) -> None:
        hour = hour_of(at)
        FailureItem(pk=campaign_failures_pk(workspace_id, campaign_id), sk=hour_bucket_sk(hour)).update(
            actions=[
                FailureItem.attempts.add(attempts),
                FailureItem.failed.add(failed),
                FailureItem.expires_at.set(int((hour + FAILURE_BUCKET_LIFETIME).timestamp())),
            ]
        )

    def attempts_since(self, workspace_id: str, campaign_id: str, oldest: datetime) -> tuple[int, int]:
        """(attempts, failed) in the buckets from `oldest`'s hour on, after the window's last reset."""
        pk = campaign_failures_pk(workspace_id, campaign_id)
        attempts = failed = 0
        since: datetime | None = None
        for item in FailureItem.query(pk, FailureItem.sk >= table.ITEM_SK, consistent_read=True):
            if item.sk == table.ITEM_SK:
                since = item.since
                continue
            hour = hour_of_bucket(item.sk)
            if hour < hour_of(oldest) or (since is not None and hour <= hour_of(since)):
                continue
            attempts += int(item.attempts or 0)
            failed += int(item.failed or 0)
        return attempts, failed

    def reset_failures(self, workspace_id: str, campaign_id: str, now: datetime) -> None:
        FailureItem(pk=campaign_failures_pk(workspace_id, campaign_id), sk=table.ITEM_SK).update(
            actions=[FailureItem.since.set(now)]
        )
