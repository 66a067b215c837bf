"""A warmup reply's place on its mailbox: the same gates as every other send from that mailbox.

Inbox sync decides to reply (the 30% share, `content.should_reply`) and queues the reply, unreserved, for the end of
its natural delay (5 min to 3 h, `content.reply_decision`). When it falls due, the sender reserves it the way the
warmup tick reserves its own sends (`WarmupEngine._dispatch`):
- the 500/day hard cap, campaign and warmup sends together, on the sending engine's mailbox day (UTC): a mailbox at
  its cap sends no reply (the reply is dropped: a reply a day late is no natural reply);
- the mailbox pacer: the reply's slot is the later of now and the mailbox's next allowed time, and moves it on by
  the pacer interval (warmup's 10 minutes, or the longest interval of the campaigns sending from the mailbox);
- a slot beyond the tick's horizon (15 minutes) is not reserved yet: the reply waits on the queue for it.
The reservation is one conditional write on the mailbox state (its version): a lost race re-reads and tries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from kindling.sending import eligibility, planning
from kindling.sending.repository import MailboxState, SendingRepository
from kindling.warmup.messages import WarmupSendMessage
from kindling.warmup.planner import HARD_CAP, PACER_KEY, WARMUP_PACER_MINUTES

HORIZON = timedelta(minutes=15)  # as the tick: a slot further away is reserved later
RACE_TRIES = 3  # conditional writes lost to another reservation before the reply waits a minute
RACE_WAIT = timedelta(minutes=1)

Verdict = Literal["reserved", "hard_cap", "wait"]


@dataclass(frozen=True)
class ReplySlot:
    verdict: Verdict
    at: datetime | None = None  # reserved: the slot; wait: when to look again


def reply_slot(state: MailboxState, now: datetime) -> tuple[Verdict, datetime, timedelta]:
    """Where a reply due `now` may go on the mailbox (pure): refused by the hard cap, a slot within the horizon
    (with the pacer interval that follows it), or a slot further away to wait for."""
    campaign, warm, _ = state.today(eligibility.day_key(now, "UTC"))
    others = planning.active_intervals(state.intervals, now)
    others.pop(PACER_KEY, None)
    interval = planning.pacer_interval(WARMUP_PACER_MINUTES, others)
    slot = max(now, state.next_allowed_at or now)
    if campaign + warm >= HARD_CAP:
        return "hard_cap", slot, interval
    if slot > now + HORIZON:
        return "wait", slot, interval
    return "reserved", slot, interval


def reserve_reply(sending: SendingRepository, job: WarmupSendMessage, now: datetime) -> ReplySlot:
    """Reserve `job` (a due, unreserved reply) on its mailbox's state."""
    for _ in range(RACE_TRIES):
        state = sending.mailbox_state(job.workspace_id, job.mailbox_id)
        verdict, slot, interval = reply_slot(state, now)
        if verdict != "reserved":
            return ReplySlot(verdict, slot if verdict == "wait" else None)
        if sending.reserve_mailbox(
            job.workspace_id,
            state,
            eligibility.day_key(now, "UTC"),
            sends=0,
            domains={},
            warmup=1,
            next_allowed_at=slot + interval,
            last_slot=slot,
            intervals=planning.next_interval_state(state.intervals, PACER_KEY, WARMUP_PACER_MINUTES, now),
        ):
            return ReplySlot("reserved", slot)
    return ReplySlot("wait", now + RACE_WAIT)
