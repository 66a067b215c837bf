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
]


@pytest.mark.parametrize(("build", "args", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_key_keeps_its_stored_format(
    build: Callable[..., object], args: tuple[object, ...], expected: object
) -> None:
    assert build(*args) == expected


def test_the_fixed_keys() -> None:
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
