"""The single table's keys are its storage format: items written today must be found by tomorrow's code, so each
key is written out here literally (kindling.platform.keys names them; every repository builds them there). That the
module stays standard-library-only is an import-linter contract (pyproject.toml, `stdlib-cold-start`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
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
