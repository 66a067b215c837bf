"""The per-mailbox warmup health score (decisions.md) and its bands.

    score = 100 - (bounce_rate * 3 + spam_rate * 1.5 + (100 - inbox_rate) * 0.5), clamped to 0-100,

over the rolling 7 days (today and the 6 days before, in the workspace's timezone); rates are percentages
of the warmup emails the mailbox *sent* in the window. A mailbox that sent nothing in the window scores
None, not 100. The result is rounded half up to a whole number, as the API shows it.

How the help center's words map onto the counters (see `counters.py`):
- inbox rate counts emails found in the inbox *plus* those rescued from spam: "your inbox placement rate
  — including emails successfully rescued from spam — contributes directly" (help center L344);
- spam rate counts every email that landed in spam, rescued or not: "emails landing in spam folders lower
  your score" (L314). A rescued email therefore costs 1.5 points per percent, one left in spam 2 (its spam
  penalty plus the missing inbox placement): rescue helps, as L344 says, but spam placement still counts;
- the denominator is everything sent, so an email seen neither in the inbox nor in spam (lost, or left in
  a folder nobody scans) lowers the inbox rate: "emails that remain undetected in spam would lower it".
- Opens and replies, which the help center says improve the score (L316), are not in the decided formula
  and do not change it.

Bands (decisions.md): Excellent 80-100, Good 60-79, Fair 40-59, Critical 0-39. The score is recomputed at
least every 6 hours (help center L4637).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Literal

from kindling.warmup.counters import WINDOW_DAYS, DailyCounters, total

Band = Literal["excellent", "good", "fair", "critical"]

RECOMPUTE_INTERVAL = timedelta(hours=6)
RECOVERY_BELOW = 40  # a score below this sends the mailbox to Recovery (the Critical band)
RECOVERED_AT = 60  # a mailbox in Recovery goes back to its previous strategy at this score

BOUNCE_WEIGHT = Fraction(3)
SPAM_WEIGHT = Fraction(3, 2)
INBOX_GAP_WEIGHT = Fraction(1, 2)

BAND_COLOURS: dict[Band, str] = {"excellent": "green", "good": "blue", "fair": "yellow", "critical": "red"}


@dataclass(frozen=True)
class Health:
    """The score and the three rates (percent, unrounded) it came from; all None without traffic."""

    score: int | None
    inbox_rate: float | None
    spam_rate: float | None
    bounce_rate: float | None
    sent: int

    @property
    def band(self) -> Band | None:
        return None if self.score is None else band_for(self.score)


def round_half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)) // 1)


def _rate(part: int, whole: int) -> Fraction:
    # Counters can disagree briefly (a placement seen before its send is counted); a rate never exceeds 100.
    return min(Fraction(100), Fraction(100 * part, whole))


def score_counts(sent: int, inbox: int, spam: int, rescued: int, bounced: int) -> Health:
    if min(sent, inbox, spam, rescued, bounced) < 0:
        raise ValueError("counts cannot be negative")
    if sent == 0:
        return Health(None, None, None, None, 0)
    inbox_rate = _rate(inbox + rescued, sent)
    spam_rate = _rate(spam, sent)
    bounce_rate = _rate(bounced, sent)
    raw = 100 - (bounce_rate * BOUNCE_WEIGHT + spam_rate * SPAM_WEIGHT + (100 - inbox_rate) * INBOX_GAP_WEIGHT)
    score = round_half_up(min(Fraction(100), max(Fraction(0), raw)))
    return Health(score, float(inbox_rate), float(spam_rate), float(bounce_rate), sent)


def health_score(rows: Iterable[DailyCounters], today: date, days: int = WINDOW_DAYS) -> Health:
    """The score over the rolling window ending with `today` (rows outside it are ignored)."""
    window = total(rows, today, days)
    return score_counts(window.sent, window.inbox, window.spam, window.rescued, window.bounced)


def band_for(score: int) -> Band:
    if not 0 <= score <= 100:
        raise ValueError("a health score is 0-100")
    if score >= 80:
        return "excellent"
    if score >= 60:
        return "good"
    if score >= 40:
        return "fair"
    return "critical"


def recompute_due(last_computed_at: datetime | None, now: datetime) -> bool:
    """True when the stored score is missing or at least 6 hours old."""
    return last_computed_at is None or now - last_computed_at >= RECOMPUTE_INTERVAL
