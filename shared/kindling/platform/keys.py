"""The single table's keys: every partition, sort and index key, by table area; repositories build keys only
through these (tests/unit/platform/test_keys.py holds that, and each key's stored format). Standard library only
(the tracking function imports it on its cold start); the schema itself (key attribute names, indexes, TTL) is
`kindling.platform.table`, the batch and transaction helpers `kindling.platform.dynamo`.

Workspace items start with the workspace id (`ws_x#TYPE#id`), so no query crosses workspaces; platform items
(the warmup pool, the SMTP hosts, API key hashes) start with `@`.

- mailbox partition `ws#MAILBOX#<id>`: the mailbox (`#`), its sending state (`SEND#STATE`, `SEND#DAY#...`),
  its warmup state and days (`WARMUP#STATE`, `WARMUP#DAY#<date>`) and its warmup tick mark (`WARMUP#TICK`);
- campaign partition `ws#CAMPAIGN#<id>`: the campaign (`#`), its steps (`C#STEP#<id>`), stats (`C#STATS#...`),
  sending state (`SEND#STATE`), enrollment summary (`ENROLLMENTS`) and enrollments (`ENROLL#<prospect id>`);
- the send ledger `ws#SEND#<send id>`; the tracking hit marker `ws#TRACKHIT#<send id>`;
- prospects `ws#PROSPECT#<id>`, the email claim `ws#EMAIL#<email>`, lists `ws#LIST#<id>` (members `M#<id>`);
- suppressed domains `ws#SUPP_DOMAIN#<domain>`; events `ws#EVENT#<id>`;
- the sparse `due` index (below): time-ordered work across workspaces.

The `due` index for sending work:
- `DUE#SEND#<shard>` / `<iso next send>#<pk>#<sk>`: enrollments whose next step is due at that instant. Only
  enrollments in the sequence with a next send carry these attributes, so the scheduler's tick reads what is
  due (one query per shard), never what is merely enrolled. Shards spread the index's write load over
  partitions; the shard is a stable hash of the item's key, so an item never moves between shards.
- `DUE#PARK#<ws>#<campaign>` / same sort key: enrollments that came due while their campaign was not running
  (draft, scheduled, paused, cooldown); moved back to their shard when it runs again.
- `DUE#CAMPSEND` / `<next check>#<pk>`: per-campaign sending state to look at (parked enrollments, completion,
  cooldown re-check).
- `DUE#MAILBOX#CONNECTED` / `<ws>#<mailbox id>`: every connected mailbox (the inbox sync fan-out, the warmup pool).
- `DUE#MAILBOX#RETEST` / `<iso due>#<ws>#<mailbox id>`: every mailbox in an outage (`disconnected`, `error`) at the
  instant the reconnect sweep must look at it again (its next re-test, or its 24 h notification if sooner).
- `DUE#EVENTPUB` / `<at>#...`: events recorded but not yet handed to the webhook queue.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime

from kindling.platform.clock import isoformat
from kindling.platform.table import ITEM_SK, PLATFORM_PREFIX

WORKSPACE_ID_RE = re.compile(r"^ws_[0-9a-z]{6,32}$")


def workspace_key(workspace_id: str, *parts: str) -> str:
    """`ws_abc#PART#PART`: every workspace item's partition key starts with its workspace id."""
    if not isinstance(workspace_id, str) or not WORKSPACE_ID_RE.match(workspace_id):
        raise ValueError(f"a workspace id is required, got {workspace_id!r}")
    return "#".join((workspace_id, *parts))


def platform_key(*parts: str) -> str:
    return PLATFORM_PREFIX + "#".join(parts)


# --- the mailbox partition -------------------------------------------------------------------------------------
CONNECTED_DUE_PK = "DUE#MAILBOX#CONNECTED"
RETEST_DUE_PK = "DUE#MAILBOX#RETEST"
MAILBOX_STATE_SK = "SEND#STATE"  # the sending engine's per-mailbox state
MAILBOX_DAY_PREFIX = "SEND#DAY#"
WARMUP_STATE_SK = "WARMUP#STATE"
WARMUP_DAY_PREFIX = "WARMUP#DAY#"
WARMUP_TICK_SK = "WARMUP#TICK"


def mailbox_pk(workspace_id: str, mailbox_id: str) -> str:
    return workspace_key(workspace_id, "MAILBOX", mailbox_id)


def mailbox_key(workspace_id: str, mailbox_id: str) -> tuple[str, str]:
    """The mailbox item's key, for batch reads (BatchGetItem)."""
    return mailbox_pk(workspace_id, mailbox_id), ITEM_SK


def connected_due_sk(workspace_id: str, mailbox_id: str) -> str:
    """A connected mailbox's sort key under `CONNECTED_DUE_PK`."""
    return f"{workspace_id}#{mailbox_id}"


def retest_due_sk(when: datetime, workspace_id: str, mailbox_id: str) -> str:
    """A mailbox in an outage under `RETEST_DUE_PK`: time-ordered, so the sweep reads only what is due."""
    return f"{isoformat(when)}#{workspace_id}#{mailbox_id}"


def mailbox_email_pk(workspace_id: str, email: str) -> str:
    return workspace_key(workspace_id, "MAILBOX_EMAIL", email.lower())


def warmup_day_sk(day: date) -> str:
    return WARMUP_DAY_PREFIX + day.isoformat()


def warmup_state_key(workspace_id: str, mailbox_id: str) -> tuple[str, str]:
    return mailbox_pk(workspace_id, mailbox_id), WARMUP_STATE_SK


def warmup_day_key(workspace_id: str, mailbox_id: str, day: date) -> tuple[str, str]:
    return mailbox_pk(workspace_id, mailbox_id), warmup_day_sk(day)


def warmup_tick_key(workspace_id: str, mailbox_id: str) -> tuple[str, str]:
    return mailbox_pk(workspace_id, mailbox_id), WARMUP_TICK_SK


MAILBOX_STATS_PREFIX = "SEND#STATS#"


def send_day_sk(day: str) -> str:
    """A day of the sending engine's counters (`SEND#DAY#<day>`), in a mailbox's or a campaign's partition."""
    return MAILBOX_DAY_PREFIX + day


def mailbox_stats_sk(day: str) -> str:
    return MAILBOX_STATS_PREFIX + day


# --- the campaign partition ------------------------------------------------------------------------------------
CAMPAIGN_CHILD_PREFIX = "C#"
STEP_PREFIX = "C#STEP#"
CAMPAIGN_STATS_PREFIX = "C#STATS#"
CAMPAIGN_STATS_SK = "C#STATS#C"
CAMPAIGN_STATE_SK = "SEND#STATE"  # the sending engine's per-campaign state
ENROLLMENT_SUMMARY_SK = "ENROLLMENTS"
ENROLL_PREFIX = "ENROLL#"


def campaign_pk(workspace_id: str, campaign_id: str) -> str:
    return workspace_key(workspace_id, "CAMPAIGN", campaign_id)


def step_sk(step_id: str) -> str:
    return STEP_PREFIX + step_id


STEP_STATS_PREFIX = CAMPAIGN_STATS_PREFIX + "S#"
VARIANT_STATS_PREFIX = CAMPAIGN_STATS_PREFIX + "V#"


def step_stats_sk(step_id: str) -> str:
    return STEP_STATS_PREFIX + step_id


def variant_stats_sk(step_id: str, letter: str) -> str:
    return f"{VARIANT_STATS_PREFIX}{step_id}#{letter}"


def enrollment_sk(prospect_id: str) -> str:
    return ENROLL_PREFIX + prospect_id


def enrollment_listing_pk(workspace_id: str, campaign_id: str) -> str:
    return workspace_key(workspace_id, "CAMPAIGN", campaign_id, "ENROLL")


def enrollment_changes_pk(workspace_id: str, campaign_id: str) -> str:
    return workspace_key(workspace_id, "CAMPAIGN", campaign_id, "ENROLLUPD")


# --- the send ledger and tracking ------------------------------------------------------------------------------
def send_pk(workspace_id: str, send_id: str) -> str:
    return workspace_key(workspace_id, "SEND", send_id)


def recipient_pk(workspace_id: str, mailbox_id: str, email: str) -> str:
    return workspace_key(workspace_id, "SENDTO", mailbox_id, email.lower())


def hit_marker_pk(workspace_id: str, send_id: str) -> str:
    return workspace_key(workspace_id, "TRACKHIT", send_id)


def recipient_domain_key(workspace_id: str, domain: str) -> tuple[str, str]:
    """A recipient domain's backoff state."""
    return workspace_key(workspace_id, "RDOMAIN", domain.lower()), ITEM_SK


def smtp_host_pk(host: str) -> str:
    """An SMTP host's circuit (platform item); `host` as `kindling.sending.circuit.host_key` normalises it."""
    return platform_key("SMTPHOST", host)


# --- the inbox -------------------------------------------------------------------------------------------------
INBOX_MESSAGE_PREFIX = "M#"  # a conversation's messages
INBOX_CURSOR_PREFIX = "F#"  # a mailbox's folder cursors, in its sync partition
_MAX_KEY_PART = 512  # longer Message-IDs are hashed (a partition key holds at most 2048 bytes)


def _part(value: str) -> str:
    if len(value) <= _MAX_KEY_PART:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def conversation_pk(workspace_id: str, conversation_id: str) -> str:
    return workspace_key(workspace_id, "INBOX", "CONV", conversation_id)


def inbox_message_sk(message_id: str) -> str:
    return INBOX_MESSAGE_PREFIX + message_id


def inbox_cursor_sk(folder: str) -> str:
    return INBOX_CURSOR_PREFIX + folder


def message_ref_pk(workspace_id: str, mailbox_id: str, message_id: str) -> str:
    """A Message-ID seen in a mailbox, pointing at its conversation."""
    return workspace_key(workspace_id, "INBOX", "REF", mailbox_id, _part(message_id))


def message_seen_pk(workspace_id: str, mailbox_id: str, key: str) -> str:
    return workspace_key(workspace_id, "INBOX", "SEEN", mailbox_id, _part(key))


def inbox_sync_pk(workspace_id: str, mailbox_id: str) -> str:
    return workspace_key(workspace_id, "INBOX", "SYNC", mailbox_id)


def inbox_effect_pk(workspace_id: str, effect_digest: str) -> str:
    return workspace_key(workspace_id, "INBOX", "EFFECT", effect_digest)


def inbox_bounce_pk(workspace_id: str, mailbox_id: str, message_key: str) -> str:
    return workspace_key(workspace_id, "INBOX", "BOUNCE", mailbox_id, _part(message_key))


def conversations_gsi_pk(workspace_id: str) -> str:
    """gsi1: a workspace's conversations, most recent activity first."""
    return workspace_key(workspace_id, "INBOXCONV")


def campaign_conversations_gsi_pk(workspace_id: str, campaign_id: str) -> str:
    """gsi2: a campaign's conversations (the campaign filter)."""
    return workspace_key(workspace_id, "INBOXCONV", "C", campaign_id)


def conversation_activity_sk(last_message_at: datetime | None, conversation_id: str) -> str:
    return f"{isoformat(last_message_at)}#{conversation_id}"


def bounces_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "INBOXBOUNCE")


def bounce_gsi_sk(bounced_at: datetime, mailbox_id: str, key_digest: str) -> str:
    return f"{isoformat(bounced_at)}#{mailbox_id}#{key_digest}"


# --- bounce shield -----------------------------------------------------------------------------------------------
HOUR_BUCKET_PREFIX = "H#"
_HOUR_FORMAT = "%Y-%m-%dT%H:00Z"


def notification_settings_pk(workspace_id: str) -> str:
    """The workspace's notification settings (where outage and Bounce Shield emails go)."""
    return workspace_key(workspace_id, "NOTIFY")


def bounce_shield_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "BOUNCESHIELD")


def campaign_failures_pk(workspace_id: str, campaign_id: str) -> str:
    return workspace_key(workspace_id, "FAILRATE", campaign_id)


def hour_bucket_sk(moment: datetime) -> str:
    """The hour (UTC) holding `moment`: `H#2026-06-10T09:00Z`."""
    return HOUR_BUCKET_PREFIX + moment.astimezone(UTC).strftime(_HOUR_FORMAT)


def hour_of_bucket(sk: str) -> datetime:
    return datetime.strptime(sk[len(HOUR_BUCKET_PREFIX) :], _HOUR_FORMAT).replace(tzinfo=UTC)


# --- prospects, lists, suppressions, events --------------------------------------------------------------------
def prospect_pk(workspace_id: str, prospect_id: str) -> str:
    return workspace_key(workspace_id, "PROSPECT", prospect_id)


def prospect_email_pk(workspace_id: str, email: str) -> str:
    return workspace_key(workspace_id, "EMAIL", email)


def list_pk(workspace_id: str, list_id: str) -> str:
    return workspace_key(workspace_id, "LIST", list_id)


MEMBER_PREFIX = "M#"  # a list's members


def member_sk(prospect_id: str) -> str:
    return MEMBER_PREFIX + prospect_id


def suppressed_domain_pk(workspace_id: str, domain: str) -> str:
    return workspace_key(workspace_id, "SUPP_DOMAIN", domain)


def event_pk(workspace_id: str, event_id: str) -> str:
    return workspace_key(workspace_id, "EVENT", event_id)


UNPUBLISHED_DUE_PK = "DUE#EVENTPUB"


# --- workspaces, API keys, jobs, imports, idempotency ----------------------------------------------------------
def workspace_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "WORKSPACE")


def api_key_pk(workspace_id: str, key_id: str) -> str:
    return workspace_key(workspace_id, "APIKEY", key_id)


def api_key_hash_pk(key_hash: str) -> str:
    return platform_key("APIKEYHASH", key_hash)


def job_pk(workspace_id: str, job_id: str) -> str:
    return workspace_key(workspace_id, "JOB", job_id)


def job_batch_sk(index: int) -> str:
    return f"BATCH#{index:05d}"


ERROR_PREFIX = "ERR#"  # a job's or an import's per-item errors


def job_error_sk(batch: int, n: int) -> str:
    return f"{ERROR_PREFIX}{batch:05d}#{n:04d}"


def import_pk(workspace_id: str, import_id: str) -> str:
    return workspace_key(workspace_id, "IMPORT", import_id)


def import_chunk_sk(index: int) -> str:
    return f"CHUNK#{index:05d}"


def import_row_error_sk(row: int) -> str:
    return f"{ERROR_PREFIX}{row:06d}"


def idempotency_pk(workspace_id: str, key_digest: str) -> str:
    return workspace_key(workspace_id, "IDEM", key_digest)


# --- webhooks ----------------------------------------------------------------------------------------------------
WEBHOOK_DUE_SHARDS = 4
WEBHOOK_DUE_PREFIX = "DUE#WEBHOOK#"  # `due` partitions of delivery retries, sharded


def webhook_pk(workspace_id: str, webhook_id: str) -> str:
    return workspace_key(workspace_id, "WEBHOOK", webhook_id)


def webhook_delivery_pk(workspace_id: str, delivery_id: str) -> str:
    return workspace_key(workspace_id, "WHDELIVERY", delivery_id)


def webhook_due_shard(delivery_id: str) -> str:
    shard = int(hashlib.sha256(delivery_id.encode()).hexdigest()[:8], 16) % WEBHOOK_DUE_SHARDS
    return f"{WEBHOOK_DUE_PREFIX}{shard:02d}"


def webhook_due_sk(when: datetime, workspace_id: str, delivery_id: str) -> str:
    return f"{isoformat(when)}#{workspace_id}#{delivery_id}"


# --- the warmup pool (platform items) ----------------------------------------------------------------------------
WARMUP_POOL_PK = platform_key("WARMUP", "POOL")
WARMUP_DOMAINS_PK = platform_key("WARMUP", "DOMAINS")


def warmup_pool_sk(workspace_id: str, mailbox_id: str) -> str:
    return f"{workspace_id}#{mailbox_id}"


def warmup_exchange_pk(exchange_id: str) -> str:
    return platform_key("WARMUP", "EXCHANGE", exchange_id)


CAMPAIGN_DUE_PK = "DUE#CAMPAIGN"  # campaigns whose start or end date comes due


# --- the due index for sending work ----------------------------------------------------------------------------
SEND_SHARDS = 16
SEND_PREFIX = "DUE#SEND#"
PARK_PREFIX = "DUE#PARK#"
CAMPAIGN_WATCH_PK = "DUE#CAMPSEND"
# Sorts after every "<iso>#..." key with the same instant: `due_sk <= upper(now)` includes everything due at now.
_AFTER = "#~"


def shard_of(key: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % shards


def send_shards() -> list[str]:
    return [f"{SEND_PREFIX}{n:02d}" for n in range(SEND_SHARDS)]


def instant(when: datetime) -> str:
    return isoformat(when) or ""


def upper(now: datetime) -> str:
    """The inclusive upper bound of a due query at `now`."""
    return instant(now) + _AFTER


def send_due_keys(pk: str, sk: str, when: datetime) -> tuple[str, str]:
    """(due_pk, due_sk) of an enrollment (item `pk`/`sk`) whose next step is due at `when`."""
    return f"{SEND_PREFIX}{shard_of(pk + '|' + sk, SEND_SHARDS):02d}", f"{instant(when)}#{pk}#{sk}"


def park_pk(workspace_id: str, campaign_id: str) -> str:
    return f"{PARK_PREFIX}{workspace_id}#{campaign_id}"


def campaign_watch_sk(pk: str, when: datetime) -> str:
    return f"{instant(when)}#{pk}"


# --- the list indexes (gsi1 / gsi2): a workspace's items of one kind, in time order ------------------------------
def time_ordered_sk(instant: str | None, item_id: str) -> str:
    """`<instant>#<id>`, an index sort key; `instant` is formatted by its owner (that format is stored; a missing
    instant has always been stored as `None`)."""
    return f"{instant}#{item_id}"


def prospects_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "PROSPECT")


def prospects_updated_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "PROSPECT_UPDATED")


def lists_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "LIST")


def api_keys_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "APIKEY")


def mailboxes_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "MAILBOX")


def campaigns_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "CAMPAIGN")


def events_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "EVENT")


def webhooks_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "WEBHOOK")


def webhook_deliveries_gsi_pk(workspace_id: str, webhook_id: str) -> str:
    return workspace_key(workspace_id, "WHDELIVERY", webhook_id)


def suppressions_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "SUPP")


def suppression_ids_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "SUPP_ID")


# --- other workspace and platform items -------------------------------------------------------------------------
def prospect_email_prefix(workspace_id: str) -> str:
    """What every `prospect_email_pk` of the workspace starts with."""
    return workspace_key(workspace_id, "EMAIL") + "#"


def event_dedup_pk(workspace_id: str, event_type: str, dedup_key: str) -> str:
    return workspace_key(workspace_id, "EVTDEDUP", event_type, dedup_key)


def unpublished_due_sk(instant: str, workspace_id: str, event_id: str) -> str:
    """The `DUE#EVENTPUB` sort key of an event not yet handed to the webhook queue."""
    return f"{instant}#{workspace_id}#{event_id}"


def rate_window_pk(workspace_id: str, bucket: str, window_start: int) -> str:
    return workspace_key(workspace_id, "RATE", bucket, str(window_start))


def assistant_audit_pk(workspace_id: str) -> str:
    """The workspace's audit log of MCP tool calls (items `<iso at>#<id>`, newest read first, expiring by TTL)."""
    return workspace_key(workspace_id, "MCPAUDIT")


def source_rate_window_pk(source_ip: str, bucket: str, window_start: int) -> str:
    return platform_key("RATE", bucket, source_ip, str(window_start))


WARMUP_BLOCKLIST_PK = platform_key("WARMUP", "BLOCKLIST")


def warmup_bounces_pk(domain: str) -> str:
    return platform_key("WARMUP", "BOUNCES", domain)


# --- LinkedIn ----------------------------------------------------------------------------------------------------
# The usage partition `ws#LIUSAGE#<account id>` (kindling.linkedin.usage): one counter per dimension per period,
# `USE#<dimension>#<period start date>` (a day, or a week's Monday), and the account's pacer `PACE`.
LINKEDIN_USAGE_PREFIX = "USE#"
LINKEDIN_PACE_SK = "PACE"


def linkedin_usage_pk(workspace_id: str, account_id: str) -> str:
    return workspace_key(workspace_id, "LIUSAGE", account_id)


def linkedin_usage_sk(dimension: str, period: str) -> str:
    return f"{LINKEDIN_USAGE_PREFIX}{dimension}#{period}"


# In the same partition, the account's activity tallies (what succeeded, for the account's tiles): one item per day
# and one per week (Monday), `ACT#day#<date>` / `ACT#week#<date>`, written with each success (kindling.linkedin.usage).
LINKEDIN_ACTIVITY_PREFIX = "ACT#"


def linkedin_activity_sk(period: str, start: str) -> str:
    return f"{LINKEDIN_ACTIVITY_PREFIX}{period}#{start}"


# - the account partition `ws#LIACCOUNT#<li id>`: the account (`#`), its status audit rows
#   (`AUDIT#<at>#<version>`), its outage marker (`OUTAGE`) and in-flight reconnect link (`CONNECT`);
#   gsi1 `ws#LIACCOUNT` / `<created>#<id>` lists a workspace's accounts;
# - the workspace's in-flight connect link `ws#LICONNECT` / `#` (help center 40.6: the same URL for 90 s);
# - reactions made through the API `ws#LIPOST#<post urn>` / `R#<account id>#<reaction type>`;
# - `DUE#LINKEDIN#ACCOUNTS` / `<ws>#<li id>`: every live account (the health check and the orphan watcher);
# - gsi2 `@LIPROVIDER#<provider account id>` / `<ws>#<li id>`: the live row linking a provider account;
# - `DUE#LINKEDIN#OUTAGE` / `<outage start>#<ws>#<li id>`: accounts in an outage not yet notified.
LINKEDIN_ACCOUNTS_DUE_PK = "DUE#LINKEDIN#ACCOUNTS"
LINKEDIN_OUTAGE_DUE_PK = "DUE#LINKEDIN#OUTAGE"
LINKEDIN_AUDIT_PREFIX = "AUDIT#"
LINKEDIN_REACTION_PREFIX = "R#"
LINKEDIN_RECONNECT_SK = "CONNECT"
LINKEDIN_OUTAGE_SK = "OUTAGE"


def linkedin_account_pk(workspace_id: str, account_id: str) -> str:
    return workspace_key(workspace_id, "LIACCOUNT", account_id)


def linkedin_accounts_gsi_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "LIACCOUNT")


def linkedin_audit_sk(at: datetime, version: int) -> str:
    """An audit row's sort key: the flip's instant and the account version it wrote (ordered within an instant)."""
    return f"{LINKEDIN_AUDIT_PREFIX}{instant(at)}#{version:010d}"


def linkedin_connect_pk(workspace_id: str) -> str:
    return workspace_key(workspace_id, "LICONNECT")


def linkedin_post_pk(workspace_id: str, post_urn: str) -> str:
    return workspace_key(workspace_id, "LIPOST", post_urn)


def linkedin_reaction_sk(account_id: str, reaction_type: str) -> str:
    return f"{LINKEDIN_REACTION_PREFIX}{account_id}#{reaction_type}"


def linkedin_account_due_sk(workspace_id: str, account_id: str) -> str:
    return f"{workspace_id}#{account_id}"


def linkedin_provider_account_gsi_pk(provider_account_id: str) -> str:
    """gsi2 of a linked live account: the provider's account id -> the row (its webhooks name only that id)."""
    return platform_key("LIPROVIDER", provider_account_id)


def linkedin_outage_due_sk(since: datetime, workspace_id: str, account_id: str) -> str:
    return f"{instant(since)}#{workspace_id}#{account_id}"


# --- the LinkedIn action engine (kindling.outreach) -------------------------------------------------------------
# - `DUE#LI#<nn>` / `<iso due>#<pk>#<sk>`: enrollments whose next LinkedIn step is due (the LinkedIn scheduler's
#   shards, like `DUE#SEND#<nn>` for email steps; an enrollment is in exactly one of the two, by its step's type);
# - `DUE#LIPARK#<ws>#<campaign>` / same sort key: LinkedIn steps that came due while the campaign was not running;
# - `DUE#LIWATCH` / `<ws>#<campaign>`: campaigns holding parked LinkedIn steps (looked at each tick);
# - the action ledger `ws#LIACTION#<action id>` / `#`: one per (enrollment, step), the claim;
# - the peer index `ws#LIPEER#<li account id>#<member provider id>` / `E#<campaign>#<prospect>`: the enrollments a
#   LinkedIn member was approached in from that account (acceptance and reply attribution);
# - inbound LinkedIn messages `ws#LIINBOUND#<li account id>#<provider message id>` / `#` (written only by
#   kindling.outreach.attribution);
# - the account's engine state `ws#LIACCOUNT#<li id>` / `ENGINE` (cooldown end, poll marks);
# - `DUE#LIPAUSED` / `<ws>#<campaign>`: campaigns the engine paused for a disconnected account (auto-resume).
LI_SHARDS = 8
LI_PREFIX = "DUE#LI#"
LI_PARK_PREFIX = "DUE#LIPARK#"
LI_WATCH_PK = "DUE#LIWATCH"
LI_PAUSED_PK = "DUE#LIPAUSED"
LI_ENGINE_SK = "ENGINE"
LI_WATCH_SK = "LI#WATCH"  # a campaign's reference under LI_WATCH_PK, in its own partition
LI_PAUSED_SK = "LI#PAUSED"  # ... under LI_PAUSED_PK
LI_PEER_PREFIX = "E#"


def li_shards() -> list[str]:
    return [f"{LI_PREFIX}{n:02d}" for n in range(LI_SHARDS)]


def li_due_keys(pk: str, sk: str, when: datetime) -> tuple[str, str]:
    """(due_pk, due_sk) of an enrollment whose next LinkedIn step is due at `when`."""
    return f"{LI_PREFIX}{shard_of(pk + '|' + sk, LI_SHARDS):02d}", f"{instant(when)}#{pk}#{sk}"


def li_park_pk(workspace_id: str, campaign_id: str) -> str:
    return f"{LI_PARK_PREFIX}{workspace_id}#{campaign_id}"


def li_campaign_ref_sk(workspace_id: str, campaign_id: str) -> str:
    """A campaign's sort key under `LI_WATCH_PK` / `LI_PAUSED_PK`."""
    return f"{workspace_id}#{campaign_id}"


def li_action_pk(workspace_id: str, action_id: str) -> str:
    return workspace_key(workspace_id, "LIACTION", action_id)


def li_peer_pk(workspace_id: str, account_id: str, member_id: str) -> str:
    return workspace_key(workspace_id, "LIPEER", account_id, member_id)


def li_peer_sk(campaign_id: str, prospect_id: str) -> str:
    return f"{LI_PEER_PREFIX}{campaign_id}#{prospect_id}"


def li_inbound_pk(workspace_id: str, account_id: str, message_id: str) -> str:
    return workspace_key(workspace_id, "LIINBOUND", account_id, _part(message_id))
