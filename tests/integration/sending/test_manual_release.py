"""Giving back a manual (inbox) send's reservation over moto: the refused copies' counts and domain counts go back,
and the pacer slot goes back only when no copy went out and no later send has taken one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kindling.sending.manual import ManualReservation, release_manual_send
from kindling.sending.repository import SendingRepository

WS, MAILBOX, DAY = "ws_release", "mbx-release", "2026-06-10"
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def reserve(repo: SendingRepository, slot: datetime, *domains: str) -> ManualReservation:
    """As `reserve_manual_send` writes it: one send per recipient domain, one pacer slot for the message."""
    domains = domains or ("acme.test",)
    state = repo.mailbox_state(WS, MAILBOX)
    counts = {d: domains.count(d) for d in domains}
    assert repo.reserve_mailbox(
        WS, state, DAY, sends=len(domains), domains=counts, next_allowed_at=None, last_slot=slot
    )
    return ManualReservation(WS, MAILBOX, DAY, tuple(domains), slot, state.last_send_at)


def test_a_release_gives_back_the_count_and_the_slot_it_took(aws: None) -> None:
    repo = SendingRepository()
    reserve(repo, T0)
    second = reserve(repo, T0 + timedelta(minutes=10))
    release_manual_send(second, [0], repo)
    state = repo.mailbox_state(WS, MAILBOX)
    assert (state.sent, state.domains, state.last_send_at) == (1, {"acme.test": 1}, T0)


def test_a_release_keeps_a_later_send_s_slot(aws: None) -> None:
    repo = SendingRepository()
    first = reserve(repo, T0)
    reserve(repo, T0 + timedelta(minutes=10), "other.test")  # another send paced after it meanwhile
    release_manual_send(first, [0], repo)
    state = repo.mailbox_state(WS, MAILBOX)
    assert (state.sent, state.domains) == (1, {"acme.test": 0, "other.test": 1})
    assert state.last_send_at == T0 + timedelta(minutes=10)


def test_a_release_on_a_new_day_gives_nothing_back(aws: None) -> None:
    repo = SendingRepository()
    first = reserve(repo, T0)
    state = repo.mailbox_state(WS, MAILBOX)
    assert repo.reserve_mailbox(WS, state, "2026-06-11", sends=1, domains={}, next_allowed_at=None)
    release_manual_send(first, [0], repo)
    state = repo.mailbox_state(WS, MAILBOX)
    assert (state.day, state.sent, state.last_send_at) == ("2026-06-11", 1, T0)


def test_a_partly_refused_message_gives_back_only_the_refused_copies_and_keeps_its_slot(aws: None) -> None:
    repo = SendingRepository()
    message = reserve(repo, T0, "acme.test", "acme.test", "umbrella.test")
    release_manual_send(message, [1, 2], repo)  # the copy to the first acme.test address went out
    state = repo.mailbox_state(WS, MAILBOX)
    assert (state.sent, state.domains, state.last_send_at) == (1, {"acme.test": 1, "umbrella.test": 0}, T0)
    release_manual_send(message, [], repo)  # nothing refused: nothing changes
    assert repo.mailbox_state(WS, MAILBOX).sent == 1
