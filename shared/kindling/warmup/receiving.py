"""The receiving side of warmup: inbox sync's `on_warmup` hook.

For a warmup email (the exchange header and a matching `[ref: ...]` subject tag) found in a synced folder:
- it is opened (\\Seen) and marked important (\\Flagged);
- found outside INBOX (Junk/Spam), it is moved to INBOX (`imapsync.move_messages`: MOVE, else COPY+EXPUNGE);
- the first sighting of an exchange in its recipient's inbox counts placement on the *sender's* daily row (through
  the platform exchange item, which names only the sender's ids): `inbox`, or `spam` (+ `rescued` when moved), and
  `opened`. That sighting may be by another mailbox connected to the same address (the To address is this
  mailbox's): it is the same inbox, and its sync may be the one that rescued the email. The recipient mailbox
  itself counts `received` on its own row, once;
- the recipient replies to its `warmup_reply_rate` share of exchanges (a seeded coin per exchange), threaded
  (In-Reply-To / References), from its own mailbox: the reply is queued on the send queue for the end of its
  natural delay (5 min to 3 h, seeded per exchange), and the sender sends it through the warmup delivery path,
  after reserving it on the mailbox's pacer and under its 500/day hard cap like every other send of the mailbox
  (kindling.warmup.replies); the sender's row counts `replied` once the reply went out.
Replies (and an email seen by a mailbox that is not the exchange's recipient) are opened, flagged and rescued
but never counted or answered again.

A hard bounce report (DSN or NDR) about a warmup email, found in the *sender's* mailbox, counts `bounced` on the
sender's row for the exchange's day, once (its exchange moves sent -> bounced): the health score weighs bounces
most, and a bounce that arrives after SMTP accepted the email is as real as one refused at RCPT. (The recipient
domain's count toward the 3-bounces blocklist rule is inbox sync's, for every warmup bounce.)
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from kindling.auth.repository import AuthRepository
from kindling.mail.classify import Classification
from kindling.mail.imapsync import FetchedMessage, mark_flagged, mark_seen, move_messages
from kindling.mail.parsing import ParsedMessage
from kindling.mailboxes.models import Mailbox
from kindling.platform.clock import Clock, get_clock
from kindling.platform.observability import get_logger
from kindling.sending.messages import SqsSendQueue
from kindling.warmup.content import identify_warmup, reply_decision, should_reply
from kindling.warmup.counters import DailyCounters
from kindling.warmup.delivery import exchange_of_message_id
from kindling.warmup.messages import WarmupQueue, WarmupSendMessage
from kindling.warmup.pool_index import Exchange, WarmupPoolRepository
from kindling.warmup.repository import WarmupRepository
from kindling.warmup.service import local_today

INBOX = "INBOX"


def placement(folder: str) -> str:
    """Where an email was found: INBOX, or spam (the only other folders inbox sync scans are Junk/Spam)."""
    return "inbox" if folder.upper() == INBOX else "spam"


def sender_delta(exchange: Exchange, placed: str, rescued: bool) -> DailyCounters:
    if placed == "inbox":
        return DailyCounters(exchange.sender_day, inbox=1, opened=1)
    return DailyCounters(exchange.sender_day, spam=1, rescued=int(rescued), opened=1)


class WarmupReceiver:
    def __init__(
        self,
        pool: WarmupPoolRepository | None = None,
        warmup: WarmupRepository | None = None,
        workspaces: AuthRepository | None = None,
        queue: WarmupQueue | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool or WarmupPoolRepository()
        self._warmup = warmup or WarmupRepository()
        self._workspaces = workspaces or AuthRepository()
        self._queue = queue or SqsSendQueue()
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def __call__(
        self, session: Any, mailbox: Mailbox, folder: str, fetched: FetchedMessage, found: Classification
    ) -> None:
        if found.bounce is not None and found.bounce.original_is_warmup:
            self._bounced(mailbox, found.bounce.bounce_type, found.bounce.original_message_id)
            return
        if found.warmup is None or not found.warmup.header:
            return
        parsed = fetched.parse()
        exchange_id = identify_warmup(parsed.subject, found.warmup.header)
        if exchange_id is None:
            return
        uids = [fetched.uid]
        mark_seen(session, folder, uids)
        mark_flagged(session, folder, uids)
        placed = placement(folder)
        rescued = False
        if placed == "spam":
            move_messages(session, folder, INBOX, uids)
            rescued = True
        exchange = self._pool.exchange(exchange_id)
        if exchange is None:
            return
        is_recipient = exchange.recipient_mailbox_id == mailbox.id
        # The same inbox may be connected as another mailbox too (another workspace): whichever sync sees the email
        # first (and rescues it) tells where it landed. A copy in some other address's mailbox, or the reply in the
        # sender's own, tells nothing.
        if not is_recipient and (
            exchange_of_message_id(parsed.message_id) != exchange_id
            or mailbox.email_address.lower() not in {a.lower() for a in parsed.to}
        ):
            return
        if self._pool.place_exchange(exchange_id, placed):  # once: a rescued email is seen again in INBOX
            self._warmup.add_day(
                exchange.sender_workspace_id, exchange.sender_mailbox_id, sender_delta(exchange, placed, rescued)
            )
        if not is_recipient or not self._pool.mark_received(exchange_id):
            return
        now = self._now()
        timezone = self._warmup.get(mailbox.workspace_id, mailbox.id).timezone or (
            self._workspaces.get_workspace(mailbox.workspace_id).timezone
        )
        self._warmup.add_day(mailbox.workspace_id, mailbox.id, DailyCounters(local_today(now, timezone), received=1))
        state = self._warmup.get(mailbox.workspace_id, mailbox.id)
        if not should_reply(exchange_id, state.reply_rate / 100) or not parsed.message_id or not parsed.from_address:
            return
        if not self._pool.mark_replied(exchange_id):
            return
        try:
            self._queue_reply(mailbox, exchange, parsed, now, local_today(now, timezone))
        except Exception:  # best effort: a failed reply never fails the inbox sync of the mailbox
            get_logger().exception("warmup reply failed", extra={"exchange": exchange_id})

    def _bounced(self, mailbox: Mailbox, bounce_type: str, original_message_id: str | None) -> None:
        exchange_id = exchange_of_message_id(original_message_id)
        if bounce_type != "hard" or exchange_id is None:
            return  # a delayed (soft) report is not a failed delivery; a reply's bounce is not the sender's
        exchange = self._pool.exchange(exchange_id)
        if exchange is None or exchange.sender_mailbox_id != mailbox.id:
            return
        if self._pool.move_exchange(exchange_id, "sent", "bounced"):
            self._warmup.add_day(
                exchange.sender_workspace_id, exchange.sender_mailbox_id, DailyCounters(exchange.sender_day, bounced=1)
            )

    def _queue_reply(
        self, mailbox: Mailbox, exchange: Exchange, parsed: ParsedMessage, now: datetime, today: date
    ) -> None:
        """The reply, queued unreserved for the end of its natural delay: the sender reserves its pacer slot and
        its place under the hard cap when it is due (kindling.warmup.replies)."""
        if not parsed.message_id or not parsed.from_address:
            return
        delay = reply_decision(exchange.exchange_id).delay
        job = WarmupSendMessage(
            exchange_id=exchange.exchange_id,
            workspace_id=mailbox.workspace_id,
            mailbox_id=mailbox.id,
            day=today,
            recipient=parsed.from_address,
            recipient_name=parsed.from_name,
            from_address=mailbox.email_address,
            from_name=mailbox.display_name,
            send_at=now + delay,
            queued_at=now,
            reply_to=_bracketed(parsed.message_id),
            reply_references=tuple(_bracketed(r) for r in parsed.references),
            reply_subject=parsed.subject,
            reserved=False,
        )
        self._queue.send([job], now)


def _bracketed(message_id: str) -> str:
    value = message_id.strip()
    return value if value.startswith("<") else f"<{value}>"
