"""The watchdog's rule for a send found in flight when its enrollment comes up in a tick (decisions.md, "stuck
send jobs": 10 minutes in processing = stuck; 3 recovery cycles, then the enrollment fails with reason
`stuck_processing_loop`).

An enrollment stays in the due index while its send is in flight (the claim writes only the ledger), so the
scheduler meets every stuck send without reading anything else:
- `queued` for more than 10 minutes: the queue message was lost (a crash between claim and enqueue) or keeps
  failing before SMTP; it is enqueued again under the same claim (the gate still lets exactly one through). The
  third time, the enrollment fails instead and an error is logged.
- `sending` for more than 10 minutes: the sender died during SMTP. Whether DATA completed is unknown, so the
  send is recorded `unknown` and never resent; the enrollment moves on to its next step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

STUCK_AFTER = timedelta(minutes=10)
MAX_RECOVERIES = 3
STUCK_REASON = "stuck_processing_loop"

Decision = Literal["wait", "requeue", "fail", "unknown"]


def decide(status: str, queued_at: datetime, sending_at: datetime | None, recoveries: int, now: datetime) -> Decision:
    if status == "sending":
        started = sending_at or queued_at
        return "unknown" if now - started > STUCK_AFTER else "wait"
    if status != "queued" or now - queued_at <= STUCK_AFTER:
        return "wait"
    return "fail" if recoveries + 1 >= MAX_RECOVERIES else "requeue"
