"""Rate-limit backoff (inventory 5) and the circuit breakers (decisions.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kindling.sending.backoff import CLEAR, BackoffState, on_rate_limited, on_success
from kindling.sending.circuit import AuthGuard, HostCircuit, host_key, observe_auth, observe_host

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("hits", "wait"),
    [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=5)),
        (3, timedelta(minutes=15)),
        (4, timedelta(hours=1)),
        (5, timedelta(hours=1)),  # stays at the top
        (9, timedelta(hours=1)),
    ],
)
def test_the_ladder(hits: int, wait: timedelta) -> None:
    state = CLEAR
    now = T0
    for _ in range(hits):
        now += timedelta(hours=2)
        state = on_rate_limited(state, now)
    assert state.until == now + wait
    assert state.current_wait == wait
    assert state.active(now) and state.active(now + wait - timedelta(seconds=1))
    assert not state.active(now + wait)


def test_clear_state_is_never_active() -> None:
    assert not CLEAR.active(T0)
    assert CLEAR.current_wait is None
    assert on_success(CLEAR, T0) is CLEAR


def test_thirty_successes_within_an_hour_reset_the_ladder() -> None:
    state = on_rate_limited(on_rate_limited(CLEAR, T0), T0 + MIN)  # level 2
    now = T0 + 10 * MIN
    for n in range(29):
        state = on_success(state, now + n * MIN)
        assert state.level == 2
    state = on_success(state, now + 29 * MIN)
    assert state == CLEAR
    # Back at the bottom: the next rate limit waits one minute again.
    assert on_rate_limited(state, T0 + 2 * timedelta(hours=1)).current_wait == timedelta(minutes=1)


def test_successes_spread_over_more_than_an_hour_do_not_reset() -> None:
    state = on_rate_limited(CLEAR, T0)
    for n in range(40):
        state = on_success(state, T0 + n * 3 * MIN)  # one every 3 minutes: at most 20 inside any hour
    assert state.level == 1
    assert len(state.successes) == 20
    assert all(T0 + 39 * 3 * MIN - t < 60 * MIN for t in state.successes)  # 30 successes within an hour


def test_a_new_rate_limit_discards_the_successes_counted_so_far() -> None:
    state = on_rate_limited(CLEAR, T0)
    for n in range(29):
        state = on_success(state, T0 + 2 * MIN + n * timedelta(seconds=10))
    state = on_rate_limited(state, T0 + 10 * MIN)
    assert state.level == 2 and state.successes == ()
    state = on_success(state, T0 + 20 * MIN)
    assert state.level == 2  # one success, not thirty


def test_backoff_state_is_a_small_value() -> None:
    state = on_rate_limited(CLEAR, T0)
    for n in range(100):
        state = on_success(state, T0 + n * timedelta(seconds=1)) if state.level else state
    assert isinstance(state, BackoffState)
    assert len(state.successes) <= 30  # only the last 30 successes can matter


# --- host circuit ---------------------------------------------------------------------------------------------


def fail(state: HostCircuit, times: int, start: datetime) -> HostCircuit:
    for n in range(times):
        state = observe_host(state, connected=False, now=start + n * timedelta(seconds=10))
    return state


@pytest.mark.parametrize(("failures", "open_"), [(1, False), (4, False), (5, True), (6, True)])
def test_five_consecutive_connection_failures_open_the_host(failures: int, open_: bool) -> None:
    state = fail(HostCircuit(), failures, T0)
    last = T0 + (failures - 1) * timedelta(seconds=10)
    assert state.consecutive_failures == failures
    assert state.is_open(last) is open_
    if open_:
        # Open for 5 minutes (spec decisions: host circuit breaker): still open a second before, closed at 5 minutes.
        assert state.open_until == last + 5 * MIN
        assert state.is_open(last + 5 * MIN - timedelta(seconds=1))
        assert not state.is_open(last + 5 * MIN)


def test_a_success_in_between_resets_the_count() -> None:
    state = fail(HostCircuit(), 4, T0)
    state = observe_host(state, connected=True, now=T0 + MIN)
    assert state == HostCircuit()
    assert not fail(state, 4, T0 + 2 * MIN).is_open(T0 + 3 * MIN)


def test_after_the_pause_one_more_failure_reopens_at_once() -> None:
    state = fail(HostCircuit(), 5, T0)
    later = T0 + 10 * MIN
    assert not state.is_open(later)  # half-open: one attempt goes through
    state = observe_host(state, connected=False, now=later)
    assert state.is_open(later) and state.open_until == later + 5 * MIN
    state = observe_host(state, connected=True, now=later + 6 * MIN)
    assert state == HostCircuit()


@pytest.mark.parametrize(
    ("host", "key"),
    [("SMTP.Gmail.com", "smtp.gmail.com"), ("smtp.office365.com.", "smtp.office365.com"), (" a.b ", "a.b")],
)
def test_host_key(host: str, key: str) -> None:
    assert host_key(host) == key


# --- mailbox auth guard ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("failures", "disable"), [(1, False), (9, False), (10, True), (11, True)])
def test_ten_consecutive_auth_failures_disable_the_mailbox(failures: int, disable: bool) -> None:
    state = AuthGuard()
    for _ in range(failures):
        state = observe_auth(state, authenticated=False)
    assert state.disable_mailbox is disable


def test_auth_count_resets_on_success_and_ignores_sessions_without_a_login() -> None:
    state = AuthGuard()
    for _ in range(9):
        state = observe_auth(state, authenticated=False)
    state = observe_auth(state, authenticated=None)  # could not connect: says nothing about the password
    assert state.consecutive_failures == 9
    state = observe_auth(state, authenticated=True)
    assert state == AuthGuard()
