"""The unified inbox and the sync's bookkeeping in DynamoDB.

Workspace items:
- conversation: pk `ws#INBOX#CONV#<cid>` sk `#`; gsi1 `ws#INBOXCONV` / `<last message at>#<cid>` (the list, most
                recent activity first); gsi2 `ws#INBOXCONV#C#<campaign id>` / the same (the campaign filter).
- message:      pk `ws#INBOX#CONV#<cid>` sk `M#<message id>`: a child of its conversation, bodies capped; an
                incoming message's id derives from the mailbox and its Message-ID, so storing it again is a no-op.
- reference:    pk `ws#INBOX#REF#<mailbox id>#<Message-ID>` sk `#` -> conversation id: threads a reply that names
                a message of the conversation (ours or theirs) in In-Reply-To / References.
- seen:         pk `ws#INBOX#SEEN#<mailbox id>#<message key>` sk `#`: the sync handled this message (dedupe across
                retries, a resync after a UIDVALIDITY change, and the same message in two folders).
- sync state:   pk `ws#INBOX#SYNC#<mailbox id>` sk `#`: the lease (one sync per mailbox at a time), consecutive auth
                failures, the folders found and the last sync's summary; sk `F#<folder>`: that folder's cursor.
- effect:       pk `ws#INBOX#EFFECT#<digest>` sk `#`: a once-only side effect (a counter bump, a complaint) done.
- bounce:       pk `ws#INBOX#BOUNCE#<mailbox id>#<message key>` sk `#`; gsi1 `ws#INBOXBOUNCE` / `<at>#...`.

The global warmup blocklist and its domain bounces live in `kindling.warmup.blocklist`.

Connected mailboxes across workspaces (the sync fan-out) come from `MailboxRepository.connected_mailboxes`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from kindling.inbox.models import Conversation, ConversationFilters, InboxMessage
from kindling.mail.imapsync import FolderCursor
from kindling.platform import table
from kindling.platform.clock import epoch_seconds, isoformat
from kindling.platform.dynamo import (
    TableModel,
    batch_get_raw,
    bind_models,
    cancelled_by_condition,
    condition_failed,
    query_page,
    transaction,
)
from kindling.platform.errors import NotFound
from kindling.platform.keys import (
    INBOX_CURSOR_PREFIX,
    INBOX_MESSAGE_PREFIX,
    bounce_gsi_sk,
    bounces_gsi_pk,
    campaign_conversations_gsi_pk,
    conversation_activity_sk,
    conversation_pk,
    conversations_gsi_pk,
    inbox_bounce_pk,
    inbox_cursor_sk,
    inbox_effect_pk,
    inbox_message_sk,
    inbox_sync_pk,
    message_ref_pk,
    message_seen_pk,
)

STATE_SK = table.ITEM_SK


class Stale(Exception):
    """The conversation changed since it was read."""


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


# --- items -----------------------------------------------------------------------------------------------------


class ConversationItem(TableModel):
    conversation_id = UnicodeAttribute()
    mailbox_id = UnicodeAttribute()
    channel = UnicodeAttribute(null=True)  # absent on rows stored before channels: email
    linkedin_chat_id = UnicodeAttribute(null=True)
    linkedin_member_id = UnicodeAttribute(null=True)
    campaign_id = UnicodeAttribute(null=True)
    prospect_id = UnicodeAttribute(null=True)
    contact_email = UnicodeAttribute()
    contact_name = UnicodeAttribute(null=True)
    subject = UnicodeAttribute()
    label = UnicodeAttribute(null=True)
    label_override = UnicodeAttribute(null=True)
    effective_label = UnicodeAttribute(null=True)  # what the label filter matches
    unread_count = NumberAttribute(default=0)
    message_count = NumberAttribute(default=0)
    is_unread = BooleanAttribute(default=False)  # what the unread filter matches
    snippet = UnicodeAttribute(default="")
    search_text = UnicodeAttribute(default="")  # folded contact, name and subject: what `search` matches
    last_message_at = UTCDateTimeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    version = NumberAttribute(default=0)


class MessageItem(TableModel):
    message_id = UnicodeAttribute()  # ours (msg_...)
    conversation_id = UnicodeAttribute()
    body = UnicodeAttribute()  # the message as JSON (bodies already capped)
    is_read = BooleanAttribute(default=False)


class RefItem(TableModel):
    conversation_id = UnicodeAttribute()


class SeenItem(TableModel):
    kind = UnicodeAttribute()
    seen_at = UTCDateTimeAttribute()


class SyncStateItem(TableModel):
    lease_until = NumberAttribute(null=True)
    lease_token = UnicodeAttribute(null=True)
    auth_failures = NumberAttribute(null=True)
    generation = NumberAttribute(null=True)  # the mailbox generation the failure count belongs to
    folders = UnicodeAttribute(null=True)  # JSON {"inbox", "junk", "sent", "trash"}
    last_error_code = UnicodeAttribute(null=True)
    last_error_at = UTCDateTimeAttribute(null=True)
    last_synced_at = UTCDateTimeAttribute(null=True)
    last_summary = UnicodeAttribute(null=True)  # JSON: what the last sync did and what it cost


class CursorItem(TableModel):
    folder = UnicodeAttribute()
    uidvalidity = NumberAttribute()
    last_uid = NumberAttribute()
    highestmodseq = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class EffectItem(TableModel):
    effect = UnicodeAttribute()
    applied_at = UTCDateTimeAttribute()
    step_id = UnicodeAttribute(null=True)  # where a counted effect was counted (to take it back exactly)
    letter = UnicodeAttribute(null=True)


class BounceItem(TableModel):
    mailbox_id = UnicodeAttribute()
    bounce_type = UnicodeAttribute()
    recipient = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    diagnostic = UnicodeAttribute(null=True)
    campaign_id = UnicodeAttribute(null=True)
    prospect_id = UnicodeAttribute(null=True)
    send_id = UnicodeAttribute(null=True)
    warmup = BooleanAttribute(default=False)
    bounced_at = UTCDateTimeAttribute()


# --- shapes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncState:
    lease_token: str
    auth_failures: int
    generation: int | None
    folders: dict[str, str | None] | None
    last_error_code: str | None


@dataclass(frozen=True)
class BounceRecord:
    workspace_id: str
    mailbox_id: str
    key: str  # the bounce report's message key
    bounce_type: str
    recipient: str | None
    status: str | None
    diagnostic: str | None
    campaign_id: str | None
    prospect_id: str | None
    send_id: str | None
    warmup: bool
    bounced_at: datetime


@dataclass(frozen=True)
class SyncSummary:
    """What one sync did (kept on the state item: operators and tests read it)."""

    outcome: str
    folders: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps({"outcome": self.outcome, "folders": self.folders}, separators=(",", ":"))


def _search_text(contact_email: str, contact_name: str | None, subject: str) -> str:
    return " ".join(part for part in (contact_email, contact_name or "", subject) if part).casefold()


def _conversation_item(conversation: Conversation) -> ConversationItem:
    ws = conversation.workspace_id
    effective = conversation.effective_label
    activity = conversation_activity_sk(conversation.last_message_at, conversation.id)
    return ConversationItem(
        pk=conversation_pk(ws, conversation.id),
        sk=table.ITEM_SK,
        gsi1pk=conversations_gsi_pk(ws),
        gsi1sk=activity,
        gsi2pk=campaign_conversations_gsi_pk(ws, conversation.campaign_id) if conversation.campaign_id else None,
        gsi2sk=activity if conversation.campaign_id else None,
        conversation_id=conversation.id,
        mailbox_id=conversation.mailbox_id,
        channel=conversation.channel,
        linkedin_chat_id=conversation.linkedin_chat_id,
        linkedin_member_id=conversation.linkedin_member_id,
        campaign_id=conversation.campaign_id,
        prospect_id=conversation.prospect_id,
        contact_email=conversation.contact_email,
        contact_name=conversation.contact_name,
        subject=conversation.subject,
        label=conversation.label,
        label_override=conversation.label_override,
        effective_label=effective,
        unread_count=conversation.unread_count,
        message_count=conversation.message_count,
        is_unread=conversation.unread_count > 0,
        snippet=conversation.snippet,
        search_text=_search_text(conversation.contact_email, conversation.contact_name, conversation.subject),
        last_message_at=conversation.last_message_at,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        version=conversation.version,
    )


def _conversation_of(workspace_id: str, item: ConversationItem) -> Conversation:
    return Conversation(
        id=item.conversation_id,
        workspace_id=workspace_id,
        mailbox_id=item.mailbox_id,
        channel="linkedin" if item.channel == "linkedin" else "email",
        linkedin_chat_id=item.linkedin_chat_id,
        linkedin_member_id=item.linkedin_member_id,
        campaign_id=item.campaign_id,
        prospect_id=item.prospect_id,
        contact_email=item.contact_email,
        contact_name=item.contact_name,
        subject=item.subject,
        label=item.label,
        label_override=item.label_override,
        unread_count=int(item.unread_count or 0),
        message_count=int(item.message_count or 0),
        snippet=item.snippet or "",
        last_message_at=item.last_message_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version or 0),
    )


def _message_item(workspace_id: str, message: InboxMessage) -> MessageItem:
    body = message.model_dump(mode="json", exclude={"id", "conversation_id", "is_read"})
    return MessageItem(
        pk=conversation_pk(workspace_id, message.conversation_id),
        sk=inbox_message_sk(message.id),
        message_id=message.id,
        conversation_id=message.conversation_id,
        body=json.dumps(body, separators=(",", ":")),
        is_read=message.is_read,
    )


def _message_of(item: MessageItem) -> InboxMessage:
    data: dict[str, Any] = json.loads(item.body)
    data.update(id=item.message_id, conversation_id=item.conversation_id, is_read=bool(item.is_read))
    return InboxMessage.model_validate(data)


class InboxRepository:
    def __init__(self) -> None:
        bind_models()

    # --- conversations -----------------------------------------------------------------------------------------
    def find_conversation(self, workspace_id: str, conversation_id: str) -> Conversation | None:
        try:
            item = ConversationItem.get(conversation_pk(workspace_id, conversation_id), STATE_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return _conversation_of(workspace_id, item)

    def get_conversation(self, workspace_id: str, conversation_id: str) -> Conversation:
        try:
            found = self.find_conversation(workspace_id, conversation_id)
        except ValueError:  # not a key this workspace could have
            found = None
        if found is None:
            raise NotFound(f"Conversation {conversation_id} not found.")
        return found

    def messages(self, workspace_id: str, conversation_id: str) -> list[InboxMessage]:
        """In the order they joined the conversation (a conversation is small: sorted here, not by key)."""
        items = MessageItem.query(
            conversation_pk(workspace_id, conversation_id),
            MessageItem.sk.startswith(INBOX_MESSAGE_PREFIX),
            consistent_read=True,
        )
        return sorted((_message_of(item) for item in items), key=lambda m: (m.seq, m.recorded_at, m.id))

    def page(
        self, workspace_id: str, filters: ConversationFilters, limit: int, cursor: str | None
    ) -> tuple[list[Conversation], str | None]:
        """Most recent activity first. The campaign filter reads its own index; the others filter the page."""
        conditions: list[Any] = []
        if filters.mailbox_id:
            conditions.append(ConversationItem.mailbox_id == filters.mailbox_id)
        if filters.channel == "linkedin":
            conditions.append(ConversationItem.channel == "linkedin")
        elif filters.channel == "email":
            conditions.append(ConversationItem.channel.does_not_exist() | (ConversationItem.channel == "email"))
        if filters.label:
            conditions.append(ConversationItem.effective_label == filters.label)
        if filters.unread is not None:
            conditions.append(ConversationItem.is_unread == filters.unread)
        if filters.search:
            conditions.append(ConversationItem.search_text.contains(filters.search.strip().casefold()))
        combined = None
        for condition in conditions:
            combined = condition if combined is None else combined & condition
        index: Any
        if filters.campaign_id:
            index, hash_value, keys = (
                ConversationItem.gsi2,
                campaign_conversations_gsi_pk(workspace_id, filters.campaign_id),
                ("gsi2pk", "gsi2sk"),
            )
        else:
            index, hash_value, keys = (
                ConversationItem.gsi1,
                conversations_gsi_pk(workspace_id),
                ("gsi1pk", "gsi1sk"),
            )
        found = query_page(
            index,
            hash_value,
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            filter_condition=combined,
            index_keys=keys,
        )
        return [_conversation_of(workspace_id, i) for i in found.items], found.next_cursor

    def add_message(
        self,
        conversation: Conversation,
        message: InboxMessage,
        *,
        expected_version: int | None,
        also: Sequence[Callable[[TransactWrite], None]] = (),
    ) -> bool:
        """Store `message` and `conversation` (already updated for it) in one transaction, with `also` (another
        owner's unconditional items, which then cost no request of their own).

        `expected_version` None creates the conversation (it must not exist), else the stored one must still have
        that version (`Stale` otherwise: nothing written). False when the message was stored before: then `also`
        is written on its own, so it is written whenever this returns."""
        ws = conversation.workspace_id
        saved = conversation.model_copy(update={"version": (expected_version or 0) + 1})
        condition = (
            ConversationItem.pk.does_not_exist()
            if expected_version is None
            else ConversationItem.version == expected_version
        )
        try:
            with transaction() as tx:
                tx.save(_message_item(ws, message), condition=MessageItem.pk.does_not_exist())
                tx.save(_conversation_item(saved), condition=condition)
                for put in also:
                    put(tx)
        except TransactWriteError as exc:
            if cancelled_by_condition(exc, 0):
                if also:
                    with transaction() as tx:
                        for put in also:
                            put(tx)
                return False
            if cancelled_by_condition(exc, 1):
                raise Stale(conversation.id) from exc
            raise
        return True

    def save_conversation(self, conversation: Conversation, expected_version: int) -> Conversation:
        saved = conversation.model_copy(update={"version": expected_version + 1})
        try:
            _conversation_item(saved).save(condition=ConversationItem.version == expected_version)
        except PutError as exc:
            if condition_failed(exc):
                raise Stale(conversation.id) from exc
            raise
        return saved

    def set_messages_read(self, workspace_id: str, conversation_id: str, messages: Sequence[InboxMessage]) -> None:
        for message in messages:
            MessageItem(pk=conversation_pk(workspace_id, conversation_id), sk=inbox_message_sk(message.id)).update(
                actions=[MessageItem.is_read.set(message.is_read)]
            )

    # --- Message-ID references and the seen set ----------------------------------------------------------------
    def conversation_for(self, workspace_id: str, mailbox_id: str, message_ids: Sequence[str]) -> str | None:
        """The conversation holding the first of `message_ids` that one does (one BatchGetItem)."""
        ordered = list(dict.fromkeys(message_ids))[:100]
        if not ordered:
            return None
        keys = {mid: (message_ref_pk(workspace_id, mailbox_id, mid), table.ITEM_SK) for mid in ordered}
        raw = batch_get_raw(keys.values())
        for mid in ordered:
            item = raw.get(keys[mid])
            if item is not None:
                return str(item["conversation_id"]["S"])
        return None

    def put_refs(self, workspace_id: str, mailbox_id: str, message_ids: Iterable[str], conversation_id: str) -> None:
        ids = list(dict.fromkeys(m for m in message_ids if m))
        if not ids:
            return
        with RefItem.batch_write() as writer:
            for mid in ids:
                writer.save(
                    RefItem(
                        pk=message_ref_pk(workspace_id, mailbox_id, mid),
                        sk=table.ITEM_SK,
                        conversation_id=conversation_id,
                    )
                )

    def is_seen(self, workspace_id: str, mailbox_id: str, key: str) -> bool:
        try:
            SeenItem.get(message_seen_pk(workspace_id, mailbox_id, key), table.ITEM_SK, attributes_to_get=["pk"])
        except DoesNotExist:
            return False
        return True

    def mark_seen(self, workspace_id: str, mailbox_id: str, key: str, kind: str, at: datetime) -> None:
        SeenItem(pk=message_seen_pk(workspace_id, mailbox_id, key), sk=table.ITEM_SK, kind=kind, seen_at=at).save()

    # --- sync state and cursors --------------------------------------------------------------------------------
    def acquire_sync(
        self, workspace_id: str, mailbox_id: str, token: str, now: datetime, lease: timedelta
    ) -> SyncState | None:
        """Take the mailbox's sync lease (None while another sync holds it) and read the state in the same write."""
        item = SyncStateItem(pk=inbox_sync_pk(workspace_id, mailbox_id), sk=STATE_SK)
        free = SyncStateItem.lease_until.does_not_exist() | (SyncStateItem.lease_until < epoch_seconds(now))
        try:
            item.update(
                actions=[
                    SyncStateItem.lease_until.set(epoch_seconds(now + lease)),
                    SyncStateItem.lease_token.set(token),
                ],
                condition=free,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        folders = json.loads(item.folders) if item.folders else None
        return SyncState(
            lease_token=token,
            auth_failures=int(item.auth_failures or 0),
            generation=None if item.generation is None else int(item.generation),
            folders=folders,
            last_error_code=item.last_error_code,
        )

    def release_sync(
        self,
        workspace_id: str,
        mailbox_id: str,
        token: str,
        *,
        auth_failures: int,
        generation: int,
        folders: dict[str, str | None] | None,
        error_code: str | None,
        summary: SyncSummary,
        now: datetime,
    ) -> None:
        """Record the outcome and free the lease (if it is still ours: an expired lease taken over is left alone)."""
        actions: list[Any] = [
            SyncStateItem.lease_until.remove(),
            SyncStateItem.lease_token.remove(),
            SyncStateItem.auth_failures.set(auth_failures),
            SyncStateItem.generation.set(generation),
            SyncStateItem.last_summary.set(summary.as_json()),
        ]
        if folders is not None:
            actions.append(SyncStateItem.folders.set(json.dumps(folders, separators=(",", ":"))))
        else:
            actions.append(SyncStateItem.folders.remove())
        if error_code is None:
            actions += [SyncStateItem.last_error_code.remove(), SyncStateItem.last_synced_at.set(now)]
        else:
            actions += [SyncStateItem.last_error_code.set(error_code), SyncStateItem.last_error_at.set(now)]
        try:
            SyncStateItem(pk=inbox_sync_pk(workspace_id, mailbox_id), sk=STATE_SK).update(
                actions=actions, condition=SyncStateItem.lease_token == token
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def sync_summary(self, workspace_id: str, mailbox_id: str) -> dict[str, Any] | None:
        try:
            item = SyncStateItem.get(inbox_sync_pk(workspace_id, mailbox_id), STATE_SK, consistent_read=True)
        except DoesNotExist:
            return None
        summary: dict[str, Any] = json.loads(item.last_summary) if item.last_summary else {}
        summary.update(
            auth_failures=int(item.auth_failures or 0),
            last_error_code=item.last_error_code,
            last_synced_at=isoformat(item.last_synced_at),
        )
        return summary

    def cursors(self, workspace_id: str, mailbox_id: str) -> dict[str, FolderCursor]:
        found: dict[str, FolderCursor] = {}
        for item in CursorItem.query(
            inbox_sync_pk(workspace_id, mailbox_id), CursorItem.sk.startswith(INBOX_CURSOR_PREFIX), consistent_read=True
        ):
            found[item.folder] = FolderCursor(
                uidvalidity=int(item.uidvalidity),
                last_uid=int(item.last_uid),
                highestmodseq=None if item.highestmodseq is None else int(item.highestmodseq),
            )
        return found

    def save_cursor(self, workspace_id: str, mailbox_id: str, folder: str, cursor: FolderCursor, at: datetime) -> None:
        CursorItem(
            pk=inbox_sync_pk(workspace_id, mailbox_id),
            sk=inbox_cursor_sk(folder),
            folder=folder,
            uidvalidity=cursor.uidvalidity,
            last_uid=cursor.last_uid,
            highestmodseq=cursor.highestmodseq,
            updated_at=at,
        ).save()

    # --- once-only effects, campaign safety, bounces -----------------------------------------------------------
    def claim_effect(
        self, workspace_id: str, effect: str, at: datetime, *, step_id: str | None = None, letter: str | None = None
    ) -> bool:
        """True the first time `effect` is claimed in this workspace (a counter bump that must not repeat); `step_id`
        and `letter` record which step's and variant's counters it bumped."""
        try:
            EffectItem(
                pk=inbox_effect_pk(workspace_id, digest(effect)),
                sk=table.ITEM_SK,
                effect=effect[:500],
                applied_at=at,
                step_id=step_id,
                letter=letter,
            ).save(condition=EffectItem.pk.does_not_exist())
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def withdraw_effect(self, workspace_id: str, effect: str) -> EffectItem | None:
        """Remove the claim of `effect` (its counter bump is being taken back) and return it; None when there is none
        or another caller removed it first, so a bump is taken back once."""
        pk = inbox_effect_pk(workspace_id, digest(effect))
        try:
            item = EffectItem.get(pk, table.ITEM_SK, consistent_read=True)
        except DoesNotExist:
            return None
        try:
            item.delete(condition=EffectItem.applied_at == item.applied_at)
        except DeleteError as exc:
            if condition_failed(exc):
                return None
            raise
        return item

    def record_bounce(self, record: BounceRecord) -> None:
        ws = record.workspace_id
        BounceItem(
            pk=inbox_bounce_pk(ws, record.mailbox_id, record.key),
            sk=table.ITEM_SK,
            gsi1pk=bounces_gsi_pk(ws),
            gsi1sk=bounce_gsi_sk(record.bounced_at, record.mailbox_id, digest(record.key)),
            mailbox_id=record.mailbox_id,
            bounce_type=record.bounce_type,
            recipient=record.recipient,
            status=record.status,
            diagnostic=(record.diagnostic or None) and record.diagnostic[:1000],
            campaign_id=record.campaign_id,
            prospect_id=record.prospect_id,
            send_id=record.send_id,
            warmup=record.warmup,
            bounced_at=record.bounced_at,
        ).save()

    def bounces(self, workspace_id: str, limit: int = 100) -> list[BounceRecord]:
        """The workspace's recorded bounces, newest first."""
        out: list[BounceRecord] = []
        for item in BounceItem.gsi1.query(bounces_gsi_pk(workspace_id), scan_index_forward=False, limit=limit):
            if not isinstance(item, BounceItem):
                continue
            out.append(
                BounceRecord(
                    workspace_id=workspace_id,
                    mailbox_id=item.mailbox_id,
                    key=item.pk.rsplit("#", 1)[-1],
                    bounce_type=item.bounce_type,
                    recipient=item.recipient,
                    status=item.status,
                    diagnostic=item.diagnostic,
                    campaign_id=item.campaign_id,
                    prospect_id=item.prospect_id,
                    send_id=item.send_id,
                    warmup=bool(item.warmup),
                    bounced_at=item.bounced_at,
                )
            )
        return out
