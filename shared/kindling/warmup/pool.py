"""Peer selection: who receives each planned warmup send, from the pool of every opted-in workspace.

Eligible recipients (help center L237, L283-289, L319; inventory 16.5, 17):
- in the pool (warmup enabled, mailbox connected: the caller's query);
- health score at or above `min_health_score` (default 40: Critical mailboxes are "excluded from the
  warmup peer pool to protect other users"); a mailbox without a score yet (no traffic) is eligible;
- its domain is not blocklisted and not excluded by the MX/SMTP check (`protection.PoolExclusions`).

For each send, among the eligible recipients a sender may use, the first of these wins:
1. another workspace. The help center sends warmup "to other WarmySender users' mailboxes" (L231, L463).
   A self-hosted deployment often holds one workspace, so a mailbox of the sender's own workspace is a
   fallback when no other workspace can take the send (`allow_same_workspace=False` makes it never);
2. a recipient this sender has not paired with yet today (so the day's sends go to different peers);
3. another provider ("prefers cross-provider pairing", L237);
4. the least loaded recipient (received today, including this plan's pairs);
5. a seeded random tie-break.
A sender never sends to itself or to its own domain: mail inside one domain never leaves the provider,
so it builds no reputation.

Fairness: no recipient receives more than its share of the day. The share is the pool's even share,
ceil((already received today by the eligible recipients + the sends being placed) / number of eligible
recipients), unless the sender can only reach some of the pool (its own domain and itself are out): then it
is at least the even share of the recipients this sender can reach, ceil((what they received today + this
sender's sends still to place) / how many they are). So the preferences above bend to the share, and a
sender never loses a send its ramp planned because peers it cannot use are emptier (a pool of two domains
with more volume on one side still delivers every send, spread evenly over the other side). Senders take
turns one send at a time, in a seeded random order, so the first senders do not take every preferred peer.
A send is left unmatched (and reported) only when the sender can reach no eligible recipient at all.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

DEFAULT_MIN_HEALTH_SCORE = 40


@dataclass(frozen=True)
class PoolMember:
    workspace_id: str
    mailbox_id: str
    domain: str
    provider: str
    health_score: int | None = None
    received_today: int = 0


@dataclass(frozen=True)
class PoolPolicy:
    min_health_score: int = DEFAULT_MIN_HEALTH_SCORE
    allow_same_workspace: bool = True


@dataclass(frozen=True)
class Pair:
    sender_id: str
    recipient_id: str


@dataclass(frozen=True)
class Selection:
    pairs: tuple[Pair, ...]
    unmatched: dict[str, int] = field(default_factory=dict)  # sender id -> sends without a recipient
    share: int = 0  # the pool's even share: the most any recipient holds today when every sender reaches all
    excluded: dict[str, str] = field(default_factory=dict)  # pool member id -> why it cannot receive


def exclusion_reason(
    member: PoolMember, policy: PoolPolicy, domain_excluded: Callable[[str], str | None]
) -> str | None:
    """Why `member` cannot receive warmup mail now, or None when it can."""
    if member.health_score is not None and member.health_score < policy.min_health_score:
        return "low_health_score"
    return domain_excluded(member.domain.lower())


def _no_exclusions(_: str) -> str | None:
    return None


def select_peers(
    demands: Sequence[tuple[PoolMember, int]],
    pool: Sequence[PoolMember],
    rng: random.Random,
    *,
    policy: PoolPolicy = PoolPolicy(),
    domain_excluded: Callable[[str], str | None] = _no_exclusions,
) -> Selection:
    """Pick a recipient for each of `count` sends of each `(sender, count)` in `demands`."""
    excluded: dict[str, str] = {}
    recipients: list[PoolMember] = []
    for member in pool:
        reason = exclusion_reason(member, policy, domain_excluded)
        if reason is None:
            recipients.append(member)
        else:
            excluded[member.mailbox_id] = reason
    wanted = sum(max(0, count) for _, count in demands)
    if not recipients or wanted == 0:
        return Selection((), {sender.mailbox_id: count for sender, count in demands if count > 0}, 0, excluded)
    share = math.ceil((sum(r.received_today for r in recipients) + wanted) / len(recipients))
    load = {r.mailbox_id: r.received_today for r in recipients}
    tie_break = {r.mailbox_id: rng.random() for r in recipients}
    paired: Counter[tuple[str, str]] = Counter()
    order = [(sender, count) for sender, count in demands if count > 0]
    rng.shuffle(order)
    candidates = {
        sender.mailbox_id: [
            r
            for r in recipients
            if r.mailbox_id != sender.mailbox_id
            and r.domain.lower() != sender.domain.lower()
            and (policy.allow_same_workspace or r.workspace_id != sender.workspace_id)
        ]
        for sender, _ in order
    }
    pairs: list[Pair] = []
    unmatched: Counter[str] = Counter()
    for turn in range(max(count for _, count in order)):
        for sender, count in order:
            if turn >= count:
                continue
            reachable = candidates[sender.mailbox_id]
            if not reachable:
                unmatched[sender.mailbox_id] += 1
                continue
            # At least the even share of what this sender can reach: the least loaded of them is always below it.
            still_to_place = count - turn
            cap = max(share, math.ceil((sum(load[r.mailbox_id] for r in reachable) + still_to_place) / len(reachable)))
            open_ = [r for r in reachable if load[r.mailbox_id] < cap]
            best = min(open_, key=partial(_rank, sender, paired, load, tie_break))
            load[best.mailbox_id] += 1
            paired[sender.mailbox_id, best.mailbox_id] += 1
            pairs.append(Pair(sender.mailbox_id, best.mailbox_id))
    return Selection(tuple(pairs), dict(unmatched), share, excluded)


def _rank(
    sender: PoolMember,
    paired: Counter[tuple[str, str]],
    load: dict[str, int],
    tie_break: dict[str, float],
    recipient: PoolMember,
) -> tuple[bool, int, bool, int, float]:
    """Smaller is better: other workspace, new pair, other provider, least loaded, then chance."""
    return (
        recipient.workspace_id == sender.workspace_id,
        paired[sender.mailbox_id, recipient.mailbox_id],
        recipient.provider == sender.provider,
        load[recipient.mailbox_id],
        tie_break[recipient.mailbox_id],
    )
