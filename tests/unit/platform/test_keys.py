"""The single table's keys are its storage format: items written today must be found by tomorrow's code, so each
key is written out here literally (kindling.platform.keys names them; every repository builds them there). That the
module stays standard-library-only is an import-linter contract (pyproject.toml, `stdlib-cold-start`)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kindling.platform import keys

REPO = Path(__file__).resolve().parents[3]
WS = "ws_abc123"

CASES: list[tuple[Callable[..., object], tuple[object, ...], object]] = [
    (keys.workspace_key, (WS, "EVENT", "evt_1"), "ws_abc123#EVENT#evt_1"),
    (keys.platform_key, ("WARMUP", "POOL"), "@WARMUP#POOL"),
    (keys.mailbox_pk, (WS, "mbx_1"), "ws_abc123#MAILBOX#mbx_1"),
    (keys.mailbox_key, (WS, "mbx_1"), ("ws_abc123#MAILBOX#mbx_1", "#")),
    (keys.mailbox_email_pk, (WS, "Jane@Example.com"), "ws_abc123#MAILBOX_EMAIL#jane@example.com"),
    (keys.warmup_state_key, (WS, "mbx_1"), ("ws_abc123#MAILBOX#mbx_1", "WARMUP#STATE")),
    (keys.warmup_day_key, (WS, "mbx_1", date(2026, 6, 10)), ("ws_abc123#MAILBOX#mbx_1", "WARMUP#DAY#2026-06-10")),
    (keys.warmup_tick_key, (WS, "mbx_1"), ("ws_abc123#MAILBOX#mbx_1", "WARMUP#TICK")),
    (keys.campaign_pk, (WS, "cmp_1"), "ws_abc123#CAMPAIGN#cmp_1"),
    (keys.step_sk, ("stp_1",), "C#STEP#stp_1"),
    (keys.step_stats_sk, ("stp_1",), "C#STATS#S#stp_1"),
    (keys.variant_stats_sk, ("stp_1", "B"), "C#STATS#V#stp_1#B"),
    (keys.enrollment_sk, ("prs_1",), "ENROLL#prs_1"),
    (keys.enrollment_listing_pk, (WS, "cmp_1"), "ws_abc123#CAMPAIGN#cmp_1#ENROLL"),
    (keys.enrollment_changes_pk, (WS, "cmp_1"), "ws_abc123#CAMPAIGN#cmp_1#ENROLLUPD"),
    (keys.send_pk, (WS, "snd_1"), "ws_abc123#SEND#snd_1"),
    (keys.recipient_pk, (WS, "mbx_1", "Jane@Example.com"), "ws_abc123#SENDTO#mbx_1#jane@example.com"),
    (keys.hit_marker_pk, (WS, "snd_1"), "ws_abc123#TRACKHIT#snd_1"),
    (keys.prospect_pk, (WS, "prs_1"), "ws_abc123#PROSPECT#prs_1"),
    (keys.prospect_email_pk, (WS, "jane@example.com"), "ws_abc123#EMAIL#jane@example.com"),
    (keys.list_pk, (WS, "lst_1"), "ws_abc123#LIST#lst_1"),
    (keys.member_sk, ("prs_1",), "M#prs_1"),
    (keys.suppressed_domain_pk, (WS, "example.com"), "ws_abc123#SUPP_DOMAIN#example.com"),
    (keys.event_pk, (WS, "evt_1"), "ws_abc123#EVENT#evt_1"),
    (keys.workspace_pk, (WS,), "ws_abc123#WORKSPACE"),
    (keys.api_key_pk, (WS, "key_1"), "ws_abc123#APIKEY#key_1"),
    (keys.api_key_hash_pk, ("abc",), "@APIKEYHASH#abc"),
    (keys.job_pk, (WS, "job_1"), "ws_abc123#JOB#job_1"),
    (keys.job_batch_sk, (7,), "BATCH#00007"),
    (keys.import_pk, (WS, "imp_1"), "ws_abc123#IMPORT#imp_1"),
    (keys.import_chunk_sk, (12,), "CHUNK#00012"),
    (keys.idempotency_pk, (WS, "d1"), "ws_abc123#IDEM#d1"),
    (keys.webhook_pk, (WS, "wh_1"), "ws_abc123#WEBHOOK#wh_1"),
    (keys.webhook_delivery_pk, (WS, "whd_1"), "ws_abc123#WHDELIVERY#whd_1"),
    (
        keys.webhook_due_sk,
        (datetime(2026, 6, 10, 9, tzinfo=UTC), WS, "whd_1"),
        "2026-06-10T09:00:00.000Z#ws_abc123#whd_1",
    ),
    (keys.warmup_pool_sk, (WS, "mbx_1"), "ws_abc123#mbx_1"),
    (keys.warmup_exchange_pk, ("ex_1",), "@WARMUP#EXCHANGE#ex_1"),
    (keys.park_pk, (WS, "cmp_1"), "DUE#PARK#ws_abc123#cmp_1"),
    (keys.campaign_watch_sk, ("P", datetime(2026, 6, 10, 9, tzinfo=UTC)), "2026-06-10T09:00:00.000Z#P"),
    # sending: day counters, mailbox stats, recipient-domain backoff, SMTP host circuits
    (keys.send_day_sk, ("2026-06-10",), "SEND#DAY#2026-06-10"),
    (keys.mailbox_stats_sk, ("2026-06-10",), "SEND#STATS#2026-06-10"),
    (keys.recipient_domain_key, (WS, "Example.COM"), ("ws_abc123#RDOMAIN#example.com", "#")),
    (keys.smtp_host_pk, ("smtp.example.com",), "@SMTPHOST#smtp.example.com"),
    # the inbox
    (keys.conversation_pk, (WS, "cnv_1"), "ws_abc123#INBOX#CONV#cnv_1"),
    (keys.inbox_message_sk, ("msg_1",), "M#msg_1"),
    (keys.inbox_cursor_sk, ("INBOX",), "F#INBOX"),
    (keys.message_ref_pk, (WS, "mbx_1", "<a@b>"), "ws_abc123#INBOX#REF#mbx_1#<a@b>"),
    (
        keys.message_ref_pk,
        (WS, "mbx_1", "x" * 513),
        "ws_abc123#INBOX#REF#mbx_1#sha256:35ade0090e64e74d6ad04204009c23a4e34b82bdf0f4f317fbcc5f26f9b10241",
    ),
    (keys.message_ref_pk, (WS, "mbx_1", "x" * 512), "ws_abc123#INBOX#REF#mbx_1#" + "x" * 512),
    (keys.message_seen_pk, (WS, "mbx_1", "k1"), "ws_abc123#INBOX#SEEN#mbx_1#k1"),
    (keys.inbox_sync_pk, (WS, "mbx_1"), "ws_abc123#INBOX#SYNC#mbx_1"),
    (keys.inbox_effect_pk, (WS, "d1"), "ws_abc123#INBOX#EFFECT#d1"),
    (keys.inbox_bounce_pk, (WS, "mbx_1", "k1"), "ws_abc123#INBOX#BOUNCE#mbx_1#k1"),
    (keys.conversations_gsi_pk, (WS,), "ws_abc123#INBOXCONV"),
    (keys.campaign_conversations_gsi_pk, (WS, "cmp_1"), "ws_abc123#INBOXCONV#C#cmp_1"),
    (
        keys.conversation_activity_sk,
        (datetime(2026, 6, 10, 9, 5, 7, 250000, tzinfo=UTC), "cnv_1"),
        "2026-06-10T09:05:07.250Z#cnv_1",
    ),
    (keys.conversation_activity_sk, (None, "cnv_1"), "None#cnv_1"),
    (keys.bounces_gsi_pk, (WS,), "ws_abc123#INBOXBOUNCE"),
    (
        keys.bounce_gsi_sk,
        (datetime(2026, 6, 10, 9, tzinfo=UTC), "mbx_1", "d1"),
        "2026-06-10T09:00:00.000Z#mbx_1#d1",
    ),
    # bounce shield
    (keys.bounce_shield_pk, (WS,), "ws_abc123#BOUNCESHIELD"),
    (keys.campaign_failures_pk, (WS, "cmp_1"), "ws_abc123#FAILRATE#cmp_1"),
    (keys.hour_bucket_sk, (datetime(2026, 6, 10, 9, 59, 59, tzinfo=UTC),), "H#2026-06-10T09:00Z"),
    (keys.hour_bucket_sk, (datetime(2026, 6, 10, 11, 30, tzinfo=timezone(timedelta(hours=2))),), "H#2026-06-10T09:00Z"),
    (keys.hour_of_bucket, ("H#2026-06-10T09:00Z",), datetime(2026, 6, 10, 9, tzinfo=UTC)),
    # the list indexes (gsi1 / gsi2) and their time-ordered sort keys
    (keys.time_ordered_sk, ("2026-06-10T09:00:00.000Z", "prs_1"), "2026-06-10T09:00:00.000Z#prs_1"),
    (keys.time_ordered_sk, ("2026-06-10T09:00:00+00:00", "key_1"), "2026-06-10T09:00:00+00:00#key_1"),
    (keys.time_ordered_sk, (None, "sup_1"), "None#sup_1"),
    (keys.prospects_gsi_pk, (WS,), "ws_abc123#PROSPECT"),
    (keys.prospects_updated_gsi_pk, (WS,), "ws_abc123#PROSPECT_UPDATED"),
    (keys.lists_gsi_pk, (WS,), "ws_abc123#LIST"),
    (keys.api_keys_gsi_pk, (WS,), "ws_abc123#APIKEY"),
    (keys.mailboxes_gsi_pk, (WS,), "ws_abc123#MAILBOX"),
    (keys.campaigns_gsi_pk, (WS,), "ws_abc123#CAMPAIGN"),
    (keys.events_gsi_pk, (WS,), "ws_abc123#EVENT"),
    (keys.webhooks_gsi_pk, (WS,), "ws_abc123#WEBHOOK"),
    (keys.webhook_deliveries_gsi_pk, (WS, "wh_1"), "ws_abc123#WHDELIVERY#wh_1"),
    (keys.suppressions_gsi_pk, (WS,), "ws_abc123#SUPP"),
    (keys.suppression_ids_gsi_pk, (WS,), "ws_abc123#SUPP_ID"),
    # other workspace and platform items
    (keys.connected_due_sk, (WS, "mbx_1"), "ws_abc123#mbx_1"),
    (keys.notification_settings_pk, (WS,), "ws_abc123#NOTIFY"),
    (
        keys.retest_due_sk,
        (datetime(2026, 6, 10, 9, 15, tzinfo=UTC), WS, "mbx_1"),
        "2026-06-10T09:15:00.000Z#ws_abc123#mbx_1",
    ),
    (keys.prospect_email_prefix, (WS,), "ws_abc123#EMAIL#"),
    (keys.event_dedup_pk, (WS, "email.opened", "d1"), "ws_abc123#EVTDEDUP#email.opened#d1"),
    (keys.unpublished_due_sk, ("2026-06-10T09:00:00+00:00", WS, "evt_1"), "2026-06-10T09:00:00+00:00#ws_abc123#evt_1"),
    (keys.rate_window_pk, (WS, "api", 1781082000), "ws_abc123#RATE#api#1781082000"),
    (keys.assistant_audit_pk, (WS,), "ws_abc123#MCPAUDIT"),
    (keys.source_rate_window_pk, ("203.0.113.9", "badkey", 1781082000), "@RATE#badkey#203.0.113.9#1781082000"),
    (keys.warmup_bounces_pk, ("example.com",), "@WARMUP#BOUNCES#example.com"),
    (keys.job_error_sk, (3, 7), "ERR#00003#0007"),
    (keys.import_row_error_sk, (12,), "ERR#000012"),
    (keys.upper, (datetime(2026, 6, 10, 9, tzinfo=UTC),), "2026-06-10T09:00:00.000Z#~"),
    # LinkedIn usage counters and the pacer
    (keys.linkedin_usage_pk, (WS, "li_1"), "ws_abc123#LIUSAGE#li_1"),
    (keys.linkedin_usage_sk, ("invites_week", "2026-06-08"), "USE#invites_week#2026-06-08"),
    (keys.linkedin_account_pk, (WS, "li_1"), "ws_abc123#LIACCOUNT#li_1"),
    (keys.linkedin_accounts_gsi_pk, (WS,), "ws_abc123#LIACCOUNT"),
    (keys.linkedin_audit_sk, (datetime(2026, 6, 10, 9, tzinfo=UTC), 7), "AUDIT#2026-06-10T09:00:00.000Z#0000000007"),
    (keys.linkedin_connect_pk, (WS,), "ws_abc123#LICONNECT"),
    (keys.linkedin_post_pk, (WS, "urn:li:activity:42"), "ws_abc123#LIPOST#urn:li:activity:42"),
    (keys.linkedin_reaction_sk, ("li_1", "LIKE"), "R#li_1#LIKE"),
    (keys.linkedin_account_due_sk, (WS, "li_1"), "ws_abc123#li_1"),
    (keys.linkedin_provider_account_gsi_pk, ("acc_9",), "@LIPROVIDER#acc_9"),
    (
        keys.linkedin_outage_due_sk,
        (datetime(2026, 6, 10, 9, tzinfo=UTC), WS, "li_1"),
        "2026-06-10T09:00:00.000Z#ws_abc123#li_1",
    ),
    # the LinkedIn action engine
    (
        keys.li_due_keys,
        ("ws_abc123#CAMPAIGN#c1", "ENROLL#p1", datetime(2026, 6, 10, 9, tzinfo=UTC)),
        ("DUE#LI#03", "2026-06-10T09:00:00.000Z#ws_abc123#CAMPAIGN#c1#ENROLL#p1"),
    ),
    (keys.li_park_pk, (WS, "c1"), "DUE#LIPARK#ws_abc123#c1"),
    (keys.li_campaign_ref_sk, (WS, "c1"), "ws_abc123#c1"),
    (keys.li_action_pk, (WS, "a1"), "ws_abc123#LIACTION#a1"),
    (keys.li_peer_pk, (WS, "li_1", "ACoAA1"), "ws_abc123#LIPEER#li_1#ACoAA1"),
    (keys.li_peer_sk, ("c1", "p1"), "E#c1#p1"),
    (keys.li_inbound_pk, (WS, "li_1", "m1"), "ws_abc123#LIINBOUND#li_1#m1"),
]


def test_the_linkedin_engine_fixed_keys() -> None:
    assert keys.li_shards() == [f"DUE#LI#{n:02d}" for n in range(8)]
    assert (keys.LI_WATCH_PK, keys.LI_PAUSED_PK, keys.LI_ENGINE_SK, keys.LI_WATCH_SK, keys.LI_PAUSED_SK) == (
        "DUE#LIWATCH",
        "DUE#LIPAUSED",
        "ENGINE",
        "LI#WATCH",
        "LI#PAUSED",
    )


@pytest.mark.parametrize(("build", "args", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_key_keeps_its_stored_format(
    build: Callable[..., object], args: tuple[object, ...], expected: object
) -> None:
    assert build(*args) == expected


def test_the_fixed_keys() -> None:
    assert keys.RETEST_DUE_PK == "DUE#MAILBOX#RETEST"
    assert (keys.CONNECTED_DUE_PK, keys.UNPUBLISHED_DUE_PK, keys.CAMPAIGN_WATCH_PK) == (
        "DUE#MAILBOX#CONNECTED",
        "DUE#EVENTPUB",
        "DUE#CAMPSEND",
    )
    assert (keys.MAILBOX_STATE_SK, keys.CAMPAIGN_STATE_SK, keys.CAMPAIGN_STATS_SK) == (
        "SEND#STATE",
        "SEND#STATE",
        "C#STATS#C",
    )
    assert keys.send_shards() == [f"DUE#SEND#{n:02d}" for n in range(16)]
    assert (keys.CAMPAIGN_DUE_PK, keys.WARMUP_POOL_PK, keys.WARMUP_DOMAINS_PK) == (
        "DUE#CAMPAIGN",
        "@WARMUP#POOL",
        "@WARMUP#DOMAINS",
    )
    assert {keys.webhook_due_shard(f"whd_{n}") for n in range(200)} == {f"DUE#WEBHOOK#{n:02d}" for n in range(4)}
    assert (keys.WARMUP_BLOCKLIST_PK, keys.MEMBER_PREFIX, keys.ERROR_PREFIX) == ("@WARMUP#BLOCKLIST", "M#", "ERR#")
    assert (keys.INBOX_MESSAGE_PREFIX, keys.INBOX_CURSOR_PREFIX, keys.HOUR_BUCKET_PREFIX) == ("M#", "F#", "H#")
    assert (keys.STEP_STATS_PREFIX, keys.VARIANT_STATS_PREFIX) == ("C#STATS#S#", "C#STATS#V#")
    assert (keys.LINKEDIN_USAGE_PREFIX, keys.LINKEDIN_PACE_SK) == ("USE#", "PACE")
    assert (keys.LINKEDIN_ACCOUNTS_DUE_PK, keys.LINKEDIN_OUTAGE_DUE_PK) == (
        "DUE#LINKEDIN#ACCOUNTS",
        "DUE#LINKEDIN#OUTAGE",
    )
    assert (keys.LINKEDIN_AUDIT_PREFIX, keys.LINKEDIN_REACTION_PREFIX) == ("AUDIT#", "R#")
    assert (keys.LINKEDIN_RECONNECT_SK, keys.LINKEDIN_OUTAGE_SK) == ("CONNECT", "OUTAGE")


@pytest.mark.parametrize("bad", ["", "ws_", "WS_ABCDEF", "ws_abc", "x" * 10])
def test_a_workspace_key_needs_a_workspace_id(bad: str) -> None:
    with pytest.raises(ValueError, match="a workspace id is required"):
        keys.workspace_key(bad, "X")


# Functions outside keys.py whose names end like a key builder but build no table key.
NOT_TABLE_KEYS = {
    "kindling/rendering/names.py::custom_lookup_key",  # a render-context lookup name, `custom:<squashed>`
}
_KEY_NAME = re.compile(r"_(pk|sk|key)$")


def _builds_a_key(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """What the function returns joins key parts: a `#` in a string or f-string piece, a `..._PREFIX` constant, or
    a call to `workspace_key` / `platform_key`."""
    for returned in (node.value for node in ast.walk(fn) if isinstance(node, ast.Return) and node.value is not None):
        for node in ast.walk(returned):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "#" in node.value:
                return True
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
            if name.endswith("_PREFIX") or name in {"workspace_key", "platform_key"}:
                return True
    return False


_KEY_LITERAL = re.compile(r"^[A-Z][A-Z_]*#")  # "ERR#", "M#", "SEND#STATS#": a key prefix written inline


def inline_keys_outside_keys(root: Path) -> list[str]:
    """Keys built in place rather than by a named builder: a call to `workspace_key` / `platform_key`, or a string
    (or f-string piece) that starts with a key prefix."""
    found = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root.parent).as_posix()
        if where == "kindling/platform/keys.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in {"workspace_key", "platform_key"}:
                    found.append(f"{where}:{node.lineno} {name}()")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _KEY_LITERAL.match(node.value):
                found.append(f"{where}:{node.lineno} {node.value!r}")
    return found


def key_builders_outside_keys(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root.parent).as_posix()
        if where == "kindling/platform/keys.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not _KEY_NAME.search(node.name):
                continue
            if _builds_a_key(node) and f"{where}::{node.name}" not in NOT_TABLE_KEYS:
                found.append(f"{where}:{node.lineno} {node.name}")
    return found


def test_every_key_builder_lives_in_keys_py() -> None:
    assert key_builders_outside_keys(REPO / "shared" / "kindling") == []


def test_no_key_is_built_inline_outside_keys_py() -> None:
    assert inline_keys_outside_keys(REPO / "shared" / "kindling") == []


def test_the_scan_finds_a_key_built_inline(tmp_path: Path) -> None:
    package = tmp_path / "kindling" / "jobs"
    package.mkdir(parents=True)
    (package / "repository.py").write_text(
        "def put(ws, job, i, n):\n"
        "    Item(pk=workspace_key(ws, 'JOB', job), sk=f'ERR#{i:05d}#{n:04d}').save()\n"
        "    Item.query(platform_key('RATE', 'x'), Item.sk.startswith('ERR#'))\n"
        "    return f'{ws}#{job}', 'ws_x#JOB'\n",
        encoding="utf-8",
    )
    assert sorted(inline_keys_outside_keys(tmp_path / "kindling")) == [
        "kindling/jobs/repository.py:2 'ERR#'",
        "kindling/jobs/repository.py:2 workspace_key()",
        "kindling/jobs/repository.py:3 'ERR#'",
        "kindling/jobs/repository.py:3 platform_key()",
    ]


def test_the_scan_finds_a_key_builder_put_back(tmp_path: Path) -> None:
    package = tmp_path / "kindling" / "inbox"
    package.mkdir(parents=True)
    (package / "repository.py").write_text(
        "def _sync_pk(ws, mb):\n    return workspace_key(ws, 'INBOX', 'SYNC', mb)\n\n"
        "def message_sk(m):\n    return MESSAGE_PREFIX + m.id\n\n"
        "def _sort_key(c):\n    return f'{c.at}#{c.id}'\n\n"
        "def host_key(h):\n    return h.strip().lower()\n",
        encoding="utf-8",
    )
    assert key_builders_outside_keys(tmp_path / "kindling") == [
        "kindling/inbox/repository.py:1 _sync_pk",
        "kindling/inbox/repository.py:4 message_sk",
        "kindling/inbox/repository.py:7 _sort_key",
    ]
