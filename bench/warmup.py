"""Warmup tick benchmark: DynamoDB requests per pool member per tick, and the pool size the 120 s timeout allows.

In-process, against moto (`mock_aws` with the local stack's emulator patches, the table from template.yaml), an
injected ManualClock and a list-backed send queue (no SQS). For N = 100 and 1,000 pool members (connected,
warmup-enabled mailboxes in 10 workspaces, UTC, over 25 domains, two providers; each pinned to Maintenance with
a target of 8 sends/day in a 00:00-02:00 window), the engine lives across ticks as in a warm Lambda:
- a priming tick at 22:00 the day before (each member's first tick: tick mark, first health score);
- (b) `first`: the day's first tick at 00:00 (the pool refresh of the hour's first tick, a tick-mark claim, the
  ramp moved and the health recomputed for every member, and the first sends);
- the ticks of 00:15 and 00:30, then (c) `busy`: 00:45, mid-window, every member with sends due;
- the ticks up to 03:15 (the window closes at 02:00, the day's plan is all claimed), then (a) `idle`: 03:30,
  no plan time in the horizon, no health recomputation (computed at 00:00), no pool refresh.
Figures per tick kind and size: DynamoDB requests per member, wall seconds of the in-process tick (moto, so only
comparable between runs of this benchmark) and, at 1,000 members, a modelled duration of 8 ms per AWS request
(as bench/scheduler.py models production). Requests grow linearly with the pool: fitted through both sizes, the
largest pool whose modelled tick stays within the 120 s timeout with a 50% margin (60 s) is given for the first
and busy ticks and overall (the most expensive kind decides); the idle tick's few batch reads are not extrapolated.

Before figures: the engine as it was before the member reads were batched (BEFORE below), measured with this
benchmark; `<figure>_after_over_before` is ours divided by it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

SIZES = (100, 1_000)
WORKSPACES = 10
DOMAINS = 25
TARGET = 8  # warmup sends per mailbox per day
WINDOW = (0, 2)  # UTC hours: 8 sends in 2 hours is about one per member per 15-minute tick
DAY = datetime(2026, 6, 10, tzinfo=UTC)
PRIME_AT = DAY - timedelta(hours=2)
TICK = timedelta(minutes=15)
MEASURED = {"first": DAY, "busy": DAY + timedelta(minutes=45), "idle": DAY + timedelta(hours=3, minutes=30)}
MS_PER_AWS_REQUEST = 8.0
TIMEOUT_SECONDS = 120.0
MARGIN = 0.5  # the modelled tick may use half the timeout

# Measured 2026-11-25 with this benchmark against the engine of commit 83597c4, before batching: per member one
# GetItem for the mailbox, one Query for the warmup state and day rows, one GetItem for the tick mark, and one
# GetItem for the sending state when sends are due (`python -m bench warmup`, 389 s for both sizes).
BEFORE: dict[str, float] = {
    "busy_dynamodb_requests_at_100": 703,
    "busy_dynamodb_requests_at_1000": 7001,
    "busy_dynamodb_requests_per_member_at_100": 7.03,
    "busy_dynamodb_requests_per_member_at_1000": 7.001,
    "busy_max_pool_within_budget": 1071,
    "busy_modelled_seconds_at_1000": 56.01,
    "busy_tick_seconds_at_100": 1.801,
    "busy_tick_seconds_at_1000": 17.704,
    "first_dynamodb_requests_at_100": 1105,
    "first_dynamodb_requests_at_1000": 11009,
    "first_dynamodb_requests_per_member_at_100": 11.05,
    "first_dynamodb_requests_per_member_at_1000": 11.009,
    "first_max_pool_within_budget": 681,
    "first_modelled_seconds_at_1000": 88.07,
    "first_tick_seconds_at_100": 2.631,
    "first_tick_seconds_at_1000": 28.716,
    "idle_dynamodb_requests_at_100": 301,
    "idle_dynamodb_requests_at_1000": 3001,
    "idle_dynamodb_requests_per_member_at_100": 3.01,
    "idle_dynamodb_requests_per_member_at_1000": 3.001,
    "idle_modelled_seconds_at_1000": 24.01,
    "idle_tick_seconds_at_100": 0.595,
    "idle_tick_seconds_at_1000": 5.783,
    "max_pool_within_budget": 681,
}


class ListQueue:
    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def send(self, jobs: Sequence[Any], now: datetime) -> None:
        self.jobs.extend(jobs)


def _seed(members: int) -> Any:
    from kindling.auth.service import AuthService
    from kindling.mailboxes.models import Mailbox
    from kindling.mailboxes.repository import MailboxRepository
    from kindling.platform.ids import new_uuid
    from kindling.warmup.engine import WarmupEngine
    from kindling.warmup.models import WarmupState
    from kindling.warmup.repository import WarmupRepository

    workspaces = [AuthService().create_workspace(f"Bench {i}").id for i in range(WORKSPACES)]
    engine = WarmupEngine(queue=ListQueue())
    created = DAY - timedelta(days=60)
    for n in range(members):
        workspace_id = workspaces[n % WORKSPACES]
        mailbox = Mailbox.model_validate(
            {
                "id": new_uuid(),
                "workspace_id": workspace_id,
                "email_address": f"warm{n}@d{n % DOMAINS}.bench.test",
                "display_name": f"Warm {n}",
                "status": "connected",
                "warmup_enabled": True,
                "provider": "google" if n % 2 else "microsoft",
                "smtp_host": "smtp.bench.test",
                "smtp_port": 587,
                "smtp_username": "user",
                "smtp_security": "starttls",
                "smtp_password_enc": "ciphertext",  # the tick never decrypts
                "imap_host": "imap.bench.test",
                "imap_port": 993,
                "imap_username": "user",
                "imap_security": "ssl",
                "imap_password_enc": "ciphertext",
                "created_at": created,
                "updated_at": created,
            }
        )
        MailboxRepository().insert(mailbox)
        WarmupRepository().save(
            WarmupState(
                workspace_id=workspace_id,
                mailbox_id=mailbox.id,
                target_daily_volume=TARGET,
                strategy="maintenance",
                strategy_override="maintenance",
                maintenance_day=10,
                window_start_hour=WINDOW[0],
                window_end_hour=WINDOW[1],
                started_at=DAY - timedelta(days=30),
            ),
            0,
        )
        engine.sync_member(mailbox)
    return engine


def _measure(members: int) -> dict[str, float]:
    from bench.support import count_aws_requests, total
    from kindling.platform.clock import ManualClock, set_clock
    from tests.support.aws import moto_table

    clock = ManualClock(PRIME_AT - timedelta(days=1))
    previous = set_clock(clock)
    figures: dict[str, float] = {}
    try:
        with moto_table():
            engine = _seed(members)
            at = PRIME_AT
            while at <= MEASURED["idle"]:
                clock.set(at)
                kind = next((k for k, when in MEASURED.items() if when == at), None)
                with count_aws_requests() as counts:
                    started = time.perf_counter()
                    report = engine.tick()
                    seconds = time.perf_counter() - started
                if report.errors or report.members != members:
                    raise RuntimeError(f"tick at {at}: {report.members} members, errors {report.errors[:3]}")
                if kind is not None:
                    if kind == "idle" and (report.due or report.health_recomputed or report.enqueued):
                        raise RuntimeError(f"the idle tick was not idle: {report}")
                    if kind == "first" and report.health_recomputed != members:
                        raise RuntimeError(f"the first tick recomputed {report.health_recomputed} members")
                    if kind in ("first", "busy") and not report.enqueued:
                        raise RuntimeError(f"the {kind} tick queued nothing")
                    dynamodb = total(counts, "dynamodb")
                    figures[f"{kind}_dynamodb_requests_at_{members}"] = dynamodb
                    figures[f"{kind}_aws_requests_at_{members}"] = sum(counts.values())
                    figures[f"{kind}_dynamodb_requests_per_member_at_{members}"] = round(dynamodb / members, 3)
                    figures[f"{kind}_enqueued_at_{members}"] = report.enqueued
                    for operation, n in counts.items():  # where the requests go, e.g. `first_GetItem_at_1000`
                        figures[f"{kind}_{operation.split('.')[-1]}_at_{members}"] = n
                    figures[f"{kind}_tick_seconds_at_{members}"] = round(seconds, 3)
                at += TICK
    finally:
        set_clock(previous)
    return figures


def run() -> dict[str, float | int]:
    from devstack.moto_patches import apply_moto_patches

    apply_moto_patches()
    figures: dict[str, float] = {}
    for members in SIZES:
        figures.update(_measure(members))
    small, large = SIZES
    budget_requests = TIMEOUT_SECONDS * MARGIN * 1000 / MS_PER_AWS_REQUEST
    limits = []
    for kind in MEASURED:
        requests_small = figures[f"{kind}_aws_requests_at_{small}"]
        requests_large = figures[f"{kind}_aws_requests_at_{large}"]
        figures[f"{kind}_modelled_seconds_at_{large}"] = round(requests_large * MS_PER_AWS_REQUEST / 1000, 2)
        # requests = fixed + per_member * N, fitted through both sizes
        per_member = (requests_large - requests_small) / (large - small)
        fixed = requests_small - per_member * small
        if kind == "idle":
            continue  # ~0.03 requests a member: a straight line that far past 1,000 members says nothing
        limit = math.floor((budget_requests - fixed) / per_member) if per_member > 0 else 0
        figures[f"{kind}_max_pool_within_budget"] = limit
        limits.append(limit)
    figures["max_pool_within_budget"] = min(limits)
    figures["model_ms_per_aws_request"] = MS_PER_AWS_REQUEST
    figures["budget_seconds"] = TIMEOUT_SECONDS * MARGIN
    for name, before in BEFORE.items():
        figures[f"{name}_before"] = before
        if name in figures and before:
            figures[f"{name}_after_over_before"] = round(figures[name] / before, 3)
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2, sort_keys=True))
