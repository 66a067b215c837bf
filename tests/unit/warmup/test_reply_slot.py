"""Where a due warmup reply may go on its mailbox (kindling.warmup.replies.reply_slot): the 500/day hard cap
(campaign and warmup sends together, inventory 3.2), the mailbox pacer (warmup's 10 minutes, or a longer campaign
interval on the mailbox, inventory 4.2-4.4), and the tick's 15-minute horizon."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kindling.sending.repository import MailboxState
from kindling.warmup.messages import WarmupSendMessage
from kindling.warmup.replies import reply_slot

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
TODAY = "2026-06-10"


def state(
    sent: int = 0, warmup: int = 0, next_allowed: datetime | None = None, campaign_minutes: float | None = None
) -> MailboxState:
    intervals = None
    if campaign_minutes is not None:
        intervals = json.dumps({"cmp_1": [campaign_minutes, (NOW - timedelta(hours=1)).isoformat()]})
    return MailboxState(
        "mb_1",
        exists=True,
        version=3,
        day=TODAY,
        sent=sent,
        warmup=warmup,
        next_allowed_at=next_allowed,
        intervals=intervals,
    )


@pytest.mark.parametrize(
    ("mailbox", "verdict", "slot", "interval_minutes"),
    [
        (state(), "reserved", NOW, 10),  # idle mailbox: now, then warmup's 10 minutes
        (state(next_allowed=NOW + timedelta(minutes=7)), "reserved", NOW + timedelta(minutes=7), 10),
        (state(next_allowed=NOW + timedelta(minutes=15)), "reserved", NOW + timedelta(minutes=15), 10),
        (state(next_allowed=NOW + timedelta(minutes=16)), "wait", NOW + timedelta(minutes=16), 10),  # past horizon
        (state(next_allowed=NOW - timedelta(minutes=30)), "reserved", NOW, 10),  # a pacer time already passed
        (state(campaign_minutes=45), "reserved", NOW, 45),  # the longest interval on the mailbox wins
        (state(sent=499), "reserved", NOW, 10),  # one place left under the hard cap
        (state(sent=499, warmup=1), "hard_cap", NOW, 10),
        (state(sent=500), "hard_cap", NOW, 10),
        (state(warmup=500), "hard_cap", NOW, 10),
    ],
)
def test_reply_slot(mailbox: MailboxState, verdict: str, slot: datetime, interval_minutes: int) -> None:
    assert reply_slot(mailbox, NOW) == (verdict, slot, timedelta(minutes=interval_minutes))


def test_yesterdays_counts_leave_todays_hard_cap_free() -> None:
    yesterday = MailboxState("mb_1", exists=True, version=3, day="2026-06-09", sent=500)
    assert reply_slot(yesterday, NOW)[0] == "reserved"


def test_a_reply_message_survives_the_queue() -> None:
    job = WarmupSendMessage(
        exchange_id="wx_abc",
        workspace_id="ws_1",
        mailbox_id="mb_1",
        day=NOW.date(),
        recipient="sam@peer.test",
        from_address="kim@lab.test",
        send_at=NOW + timedelta(minutes=42),
        queued_at=NOW,
        reply_to="<wx_abc@peer.test>",
        reply_references=("<wx_abc@peer.test>",),
        reply_subject="Lunch next week? [ref: ABCDEFGH]",
        reserved=False,
    )
    back = WarmupSendMessage.from_body(job.to_body())
    assert back == job and back.is_reply and back.key == "wx_abc.re" and not back.reserved
    plain = job.model_copy(update={"reply_to": None})
    assert not plain.is_reply and plain.key == "wx_abc"
