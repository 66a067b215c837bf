"""Workspaces and API keys in DynamoDB (the only auth code that touches the table).

Items:
- workspace:     pk `ws_x#WORKSPACE`               sk `#`
- API key:       pk `ws_x#APIKEY#key_y`            sk `#`   gsi1 `ws_x#APIKEY` / `<created>#key_y`
- hash pointer:  pk `@APIKEYHASH#<sha256(token)>`  sk `#`   (platform item: the only way from a token to a
  workspace; it carries a copy of scopes/name/revocation so authentication is one GetItem)
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError

from kindling.auth.models import ApiKey, Workspace
from kindling.platform.dynamo import TableModel, bind_models, transaction
from kindling.platform.errors import Conflict, NotFound
from kindling.platform.keys import api_key_hash_pk, api_key_pk, api_keys_gsi_pk, time_ordered_sk, workspace_pk


class WorkspaceItem(TableModel):
    name = UnicodeAttribute()
    timezone = UnicodeAttribute(default="UTC")
    created_at = UTCDateTimeAttribute()


class ApiKeyItem(TableModel):
    key_id = UnicodeAttribute()
    workspace_id = UnicodeAttribute()
    name = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute)  # type: ignore[var-annotated]
    prefix = UnicodeAttribute()
    key_hash = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)


class ApiKeyHashItem(TableModel):
    workspace_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    name = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute)  # type: ignore[var-annotated]
    revoked = UnicodeAttribute(default="no")


def _to_workspace(item: WorkspaceItem) -> Workspace:
    return Workspace(id=item.pk.split("#", 1)[0], name=item.name, timezone=item.timezone, created_at=item.created_at)


def _to_key(item: ApiKeyItem) -> ApiKey:
    return ApiKey(
        id=item.key_id,
        workspace_id=item.workspace_id,
        name=item.name,
        scopes=list(item.scopes or []),
        prefix=item.prefix,
        created_at=item.created_at,
        revoked_at=item.revoked_at,
    )


class AuthRepository:
    def __init__(self) -> None:
        bind_models()

    def put_workspace(self, workspace: Workspace) -> None:
        item = WorkspaceItem(
            pk=workspace_pk(workspace.id),
            name=workspace.name,
            timezone=workspace.timezone,
            created_at=workspace.created_at,
        )
        try:
            item.save(condition=WorkspaceItem.pk.does_not_exist())
        except PutError as exc:
            raise Conflict(f"Workspace {workspace.id} already exists.") from exc

    def get_workspace(self, workspace_id: str) -> Workspace:
        try:
            return _to_workspace(WorkspaceItem.get(workspace_pk(workspace_id), "#"))
        except DoesNotExist as exc:
            raise NotFound(f"Workspace {workspace_id} not found.") from exc

    def put_key(self, key: ApiKey, key_hash: str) -> None:
        """Store the key and its hash pointer together, or neither."""
        key_item = ApiKeyItem(
            pk=api_key_pk(key.workspace_id, key.id),
            gsi1pk=api_keys_gsi_pk(key.workspace_id),
            gsi1sk=time_ordered_sk(key.created_at.isoformat(), key.id),
            key_id=key.id,
            workspace_id=key.workspace_id,
            name=key.name,
            scopes=list(key.scopes),
            prefix=key.prefix,
            key_hash=key_hash,
            created_at=key.created_at,
        )
        pointer = ApiKeyHashItem(
            pk=api_key_hash_pk(key_hash),
            workspace_id=key.workspace_id,
            key_id=key.id,
            name=key.name,
            scopes=list(key.scopes),
        )
        try:
            with transaction() as tx:
                tx.condition_check(WorkspaceItem, workspace_pk(key.workspace_id), "#", WorkspaceItem.pk.exists())
                tx.save(key_item, condition=ApiKeyItem.pk.does_not_exist())
                tx.save(pointer, condition=ApiKeyHashItem.pk.does_not_exist())
        except TransactWriteError as exc:
            raise NotFound(f"Workspace {key.workspace_id} not found or key id taken.") from exc

    def find_by_hash(self, key_hash: str) -> ApiKeyHashItem | None:
        try:
            return ApiKeyHashItem.get(api_key_hash_pk(key_hash), "#")
        except DoesNotExist:
            return None

    def get_key(self, workspace_id: str, key_id: str) -> tuple[ApiKey, str]:
        try:
            item = ApiKeyItem.get(api_key_pk(workspace_id, key_id), "#")
        except DoesNotExist as exc:
            raise NotFound(f"API key {key_id} not found.") from exc
        return _to_key(item), item.key_hash

    def list_keys(self, workspace_id: str) -> list[ApiKey]:
        items = ApiKeyItem.gsi1.query(api_keys_gsi_pk(workspace_id))
        return [_to_key(cast(ApiKeyItem, item)) for item in items]

    def revoke_key(self, workspace_id: str, key_id: str, when: datetime) -> ApiKey:
        key, key_hash = self.get_key(workspace_id, key_id)
        if not key.active:
            return key
        with transaction() as tx:
            tx.update(
                ApiKeyItem(pk=api_key_pk(workspace_id, key_id), sk="#"),
                actions=[ApiKeyItem.revoked_at.set(when)],
                condition=ApiKeyItem.pk.exists(),
            )
            tx.update(
                ApiKeyHashItem(pk=api_key_hash_pk(key_hash), sk="#"),
                actions=[ApiKeyHashItem.revoked.set("yes")],
                condition=ApiKeyHashItem.pk.exists(),
            )
        return key.model_copy(update={"revoked_at": when})
