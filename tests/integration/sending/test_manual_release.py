"""Giving back a manual (inbox) send's reservation over moto: the day's count and domain count go back, and the pacer
slot goes back only while no later send has taken one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kindling.sending.manual import ManualReservation, release_manual_send
from kindling.sending.repository import SendingRepository

WS, MAILBOX, DAY = "ws_release", "mbx-release", "2026-06-10"
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def reserve(repo: SendingRepository, slot: datetime, domain: str = "acme.test") -> ManualReservation:
    state = repo.mailbox_state(WS, MAILBOX)
    assert repo.reserve_mailbox(WS, state, DAY, sends=1, domains={domain: 1}, next_allowed_at=None, last_slot=slot)
    return ManualReservation(WS, MAILBOX, DAY, domain, slot, state.last_send_at)


def test_a_release_gives_back_the_count_and_the_slot_it_took(aws: None) -> None:
    repo = SendingRepository()
    reserve(repo, T0)
    second = reserve(repo, T0 + timedelta(minutes=10))
    release_manual_send(second, repo)
    state = repo.mailbox_state(WS, MAILBOX)
    assert (state.sent, state.domains, state.last_send_at) == (1, {"acme.test": 1}, T0)


def test_a_release_keeps_a_later_send_s_slot(aws: None) -> None:
    repo = SendingRepository()
    first = reserve(repo, T0)
    reserve(repo, T0 + timedelta(minutes=10), domain="other.test")  # another send paced after it meanwhile
    release_manual_send(first, repo)
    state = repo.mailbox_state(WS, MAILBOX)
    assert (state.sent, state.domains) == (1, {"acme.test": 0, "other.test": 1})
    assert state.last_send_at == T0 + timedelta(minutes=10)


def test_a_release_on_a_new_day_gives_nothing_back(aws: None) -> None:
    repo = SendingRepository()
    first = reserve(repo, T0)
    state = repo.mailbox_state(WS, MAILBOX)
    assert repo.reserve_mailbox(WS, state, "2026-06-11", sends=1, domains={}, next_allowed_at=None)
    release_manual_send(first, repo)
    state = repo.mailbox_state(WS, MAILBOX)
    assert (state.day, state.sent, state.last_send_at) == ("2026-06-11", 1, T0)
