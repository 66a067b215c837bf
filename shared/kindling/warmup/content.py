"""Warmup message content: short natural emails from a built-in phrase bank, the `[ref: XXXXXXXX]` subject
tag, the exchange header, and the receiving side's reply decision and composer.

Every choice is seeded from the exchange id, so composing the same exchange twice (a retried send, a
re-run tick) gives the same message. An exchange is one warmup email and, sometimes, its one reply:
- the subject ends with ` [ref: XXXXXXXX]`, eight characters from an alphabet without look-alikes
  (no 0/O, 1/I), derived from the exchange id (help center L4060-4061: the tag lets users filter warmup
  mail, and nothing may change it);
- the header `X-Kindling-Warmup: <exchange id>` travels on the email and on its reply; inbox sync knows a
  warmup email by the header *and* a subject tag matching it (`identify_warmup`); spam rescue needs both
  to agree before it moves anything;
- the receiving mailbox replies to a configurable share of exchanges (a seeded coin per exchange, so a
  re-scan decides the same way), threaded with In-Reply-To/References, after a natural delay. Replies are
  never answered: only an exchange's first email is replied to.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from kindling.platform.text import fold_lines
from kindling.warmup.seeds import seeded_rng, unit_fraction

WARMUP_HEADER = "X-Kindling-Warmup"
REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: 5 bits each, no 0/O or 1/I
REF_LENGTH = 8
REF_TAG_RE = re.compile(r"\[ref: ([" + REF_ALPHABET + r"]{8})\]")
EXCHANGE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_REPLY_SHARE = 0.3
REPLY_DELAY_MIN = timedelta(minutes=5)
REPLY_DELAY_MAX = timedelta(hours=3)

SUBJECTS: tuple[str, ...] = (
    "Quick question",
    "Following up on our chat",
    "Thoughts on next week?",
    "Catching up",
    "Notes from today",
    "Coffee sometime?",
    "Small update",
    "Checking in",
    "About the schedule",
    "That article I mentioned",
    "Plans for Thursday",
    "One more thing",
    "Re-sharing the details",
    "Your recommendation",
    "Weekend plans",
    "Happy Friday",
    "A quick thank you",
    "Next steps",
    "The list we talked about",
    "Picking your brain",
    "Lunch next week",
    "Good news",
    "Agenda ideas",
    "A couple of links",
)

GREETINGS_NAMED: tuple[str, ...] = ("Hi {name},", "Hello {name},", "Hey {name},", "Dear {name},", "{name},")
GREETINGS_PLAIN: tuple[str, ...] = ("Hi there,", "Hello,", "Hi,", "Hey,")

# A body is an opener (most of the time), one or two middle sentences, and a closer (most of the time).
OPENERS: tuple[str, ...] = (
    "Hope your week is going well.",
    "Hope you had a good weekend.",
    "It has been a busy few days here, but things are settling down.",
    "Thanks again for the help last time, it made a real difference.",
    "I really enjoyed our last conversation.",
    "Just a short note before I forget.",
    "Hope things are calm on your side.",
)
MIDDLES: tuple[str, ...] = (
    "I wanted to follow up on what we discussed the other day.",
    "I finally got around to reading the report you sent over.",
    "I put together a few notes and would love your take on them.",
    "I came across something that reminded me of our conversation.",
    "The team liked the idea, so I think we can move ahead.",
    "I tried the approach you suggested and it worked nicely.",
    "We are planning to wrap this up by the end of the month.",
    "I moved our call to next Tuesday, I hope that is alright.",
    "The documents arrived safely, thank you.",
    "I will be out of the office on Monday, back Tuesday morning.",
    "I added a couple of ideas to the shared list.",
    "Glad we could sort that out so quickly.",
    "I am still thinking about your question and will get back to you.",
    "Everything looks good on my side so far.",
    "The draft is ready whenever you want to review it.",
    "Quick heads up that the meeting room has changed.",
    "I found the booking confirmation, so we are all set for the trip.",
    "The numbers came in a little better than we expected.",
)
CLOSERS: tuple[str, ...] = (
    "Do you have a few minutes sometime this week to catch up?",
    "Let me know if Thursday afternoon still works for you.",
    "No rush on this, whenever you get a chance is fine.",
    "Could you send me the link you mentioned when you have a moment?",
    "I'm around most of the afternoon if you want to talk it through.",
    "Happy to share more details if that would be useful.",
    "Let me know what you think when you have had a look.",
    "Would it help if I sent over a short summary first?",
    "Let's pick a time that suits you best.",
)

SIGN_OFFS: tuple[str, ...] = (
    "Best,",
    "Thanks,",
    "Cheers,",
    "Talk soon,",
    "All the best,",
    "Kind regards,",
    "Many thanks,",
    "Speak soon,",
)

REPLIES: tuple[str, ...] = (
    "Thanks for the note, that sounds good to me.",
    "Great to hear from you! Thursday works for me.",
    "Thanks, I'll take a look and get back to you.",
    "Sounds like a plan, let's do it.",
    "Appreciate the update, thanks for keeping me posted.",
    "Yes, happy to catch up. How about early next week?",
    "Got it, thanks! I'll share it with the team.",
    "Good to know, thank you for letting me know.",
    "That works. Send over the details when you can.",
    "Thanks! Really glad it worked out.",
    "Perfect, talk to you then.",
    "Thanks for thinking of me, I'd love to read it.",
    "No problem at all, whenever suits you.",
    "Lovely, thanks for sharing this.",
    "Sure thing, I'll have a look this afternoon.",
    "Thanks for following up, all good on my end.",
)


@dataclass(frozen=True)
class WarmupEmail:
    exchange_id: str
    subject: str
    text: str
    headers: tuple[tuple[str, str], ...]

    @property
    def ref(self) -> str:
        return ref_tag(self.exchange_id)


@dataclass(frozen=True)
class ReplyDecision:
    reply: bool
    delay: timedelta


def _token(digest: bytes, length: int, alphabet: str) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


def exchange_id(sender_mailbox_id: str, day: date, index: int) -> str:
    """A stable id for the `index`-th warmup send of a mailbox's day (a re-planned day reuses the ids)."""
    digest = hashlib.sha256(f"warmup-exchange\x1f{sender_mailbox_id}\x1f{day.isoformat()}\x1f{index}".encode())
    return "wx_" + _token(digest.digest(), 20, REF_ALPHABET.lower())


def ref_tag(exchange: str) -> str:
    """The subject's eight-character tag for an exchange."""
    if not EXCHANGE_ID_RE.match(exchange):
        raise ValueError("an exchange id is 1-64 letters, digits, '_' or '-'")
    return _token(hashlib.sha256(f"warmup-ref\x1f{exchange}".encode()).digest(), REF_LENGTH, REF_ALPHABET)


def tag_subject(subject: str, exchange: str) -> str:
    return f"{subject} [ref: {ref_tag(exchange)}]"


def parse_ref_tag(subject: str) -> str | None:
    """The last `[ref: XXXXXXXX]` tag in a subject, or None."""
    found = REF_TAG_RE.findall(subject or "")
    return found[-1] if found else None


def identify_warmup(subject: str | None, header_value: str | None) -> str | None:
    """The exchange id of a warmup email, or None: the header must name an exchange whose tag is in the
    subject. A tag alone (header stripped by a gateway) is left to the caller to look up by `parse_ref_tag`.
    """
    if not header_value:
        return None
    exchange = header_value.strip()
    if not EXCHANGE_ID_RE.match(exchange):
        return None
    return exchange if parse_ref_tag(subject or "") == ref_tag(exchange) else None


def first_name(display_name: str | None) -> str | None:
    """The first word of a display name ("Lee, Jordan" -> "Jordan"), or None."""
    if not display_name or not display_name.strip():
        return None
    name = display_name.strip()
    if "," in name:
        name = name.split(",", 1)[1].strip() or name.split(",", 1)[0].strip()
    word = name.split()[0].strip("\"'")
    return word or None


def _greeting(rng: random.Random, name: str | None) -> str:
    if name:
        return rng.choice(GREETINGS_NAMED).format(name=name)
    return rng.choice(GREETINGS_PLAIN)


def _closing(rng: random.Random, name: str | None) -> str:
    sign_off = rng.choice(SIGN_OFFS)
    return f"{sign_off}\n{name}" if name else sign_off


def compose_message(exchange: str, *, sender_name: str | None, recipient_name: str | None) -> WarmupEmail:
    """The first email of an exchange: greeting, one to four sentences, sign-off (and the sender's name)."""
    rng = seeded_rng("warmup-message", exchange)
    sender_first, recipient_first = first_name(sender_name), first_name(recipient_name)
    subject = tag_subject(rng.choice(SUBJECTS), exchange)
    sentences = [rng.choice(OPENERS)] if rng.random() < 0.7 else []
    sentences += rng.sample(MIDDLES, rng.choice((1, 1, 2)))
    if rng.random() < 0.7:
        sentences.append(rng.choice(CLOSERS))
    text = "\n\n".join((_greeting(rng, recipient_first), " ".join(sentences), _closing(rng, sender_first)))
    return WarmupEmail(exchange, subject, text + "\n", ((WARMUP_HEADER, exchange),))


def reply_subject(subject: str) -> str:
    return subject if re.match(r"^\s*re:", subject, re.IGNORECASE) else f"Re: {subject}"


def compose_reply(
    exchange: str,
    *,
    original_subject: str,
    original_message_id: str,
    original_references: Sequence[str] = (),
    sender_name: str | None,
    recipient_name: str | None,
) -> WarmupEmail:
    """The reply to an exchange's email, threaded on it; `sender_name` is the replying mailbox's."""
    rng = seeded_rng("warmup-reply-text", exchange)
    references = [*original_references, original_message_id]
    text = "\n\n".join(
        (_greeting(rng, first_name(recipient_name)), rng.choice(REPLIES), _closing(rng, first_name(sender_name)))
    )
    headers = (
        (WARMUP_HEADER, exchange),
        ("In-Reply-To", original_message_id),
        ("References", " ".join(references)),
    )
    return WarmupEmail(exchange, reply_subject(original_subject), text + "\n", headers)


def should_reply(exchange: str, share: float = DEFAULT_REPLY_SHARE) -> bool:
    if not 0 <= share <= 1:
        raise ValueError("the reply share is between 0 and 1")
    return unit_fraction("warmup-reply", exchange) < share


def reply_decision(exchange: str, share: float = DEFAULT_REPLY_SHARE) -> ReplyDecision:
    """Whether the receiving side replies, and how long after the email arrived (5 min to 3 h)."""
    spread = (REPLY_DELAY_MAX - REPLY_DELAY_MIN).total_seconds()
    delay = REPLY_DELAY_MIN + timedelta(seconds=int(unit_fraction("warmup-reply-delay", exchange) * spread))
    return ReplyDecision(should_reply(exchange, share), delay)


def build_message(
    email: WarmupEmail,
    *,
    from_address: str,
    from_name: str | None,
    to_address: str,
    to_name: str | None,
    message_id: str,
    sent_at: datetime,
) -> EmailMessage:
    """A plain-text RFC 5322 message carrying the email's subject, body and headers."""
    message = EmailMessage()
    # Names stored before control characters were refused may carry CR/LF: folded, never a header break.
    message["From"] = formataddr((fold_lines(from_name or ""), from_address))
    message["To"] = formataddr((fold_lines(to_name or ""), to_address))
    message["Subject"] = email.subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id
    for name, value in email.headers:
        message[name] = value
    message.set_content(email.text)
    return message
