"""The LinkedIn engine's error dispositions (help center §38, issue 18) and the Endorse Skill choice, row by row, with
the numbers written out: 4-8 h cooldowns never shortened, 3 consecutive 404s, 5 URL tries, 5 stuck, 2 endorse
retries 5 minutes apart."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kindling.linkedin.dispositions import (
    ERROR_CODES,
    ActionState,
    Disposition,
    Skill,
    after_success,
    choose_skill,
    disposition,
    exclude_inaccessible,
    greatest,
)

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
INVITE = ActionState(action_type="send_invite")
MESSAGE = ActionState(action_type="send_message")
ENDORSE = ActionState(action_type="endorse_skill")


def rng(seed: int = 7) -> random.Random:
    return random.Random(seed)


def decide(code: str, state: ActionState = INVITE, *, not_before: datetime | None = None) -> Disposition:
    return disposition(code, state, NOW, rng(), not_before=not_before)


# --- cannot_resend_yet ------------------------------------------------------------------------------------------------
def test_cannot_resend_yet_cools_the_account_down_4_to_8_hours() -> None:
    ends = []
    for seed in range(300):
        d = disposition("cannot_resend_yet", INVITE, NOW, random.Random(seed))
        assert d.account_cooldown_until is not None and d.retry_at is not None
        assert NOW + 4 * H <= d.account_cooldown_until <= NOW + 8 * H
        # rescheduled after the cooldown, with 1-15 minutes of jitter
        assert d.account_cooldown_until + 1 * M <= d.retry_at <= d.account_cooldown_until + 15 * M
        assert (d.outcome, d.advance, d.release_slot, d.job_status) == ("cooldown", False, True, "expired")
        assert (d.enrollment_status, d.pause_campaign_reason, d.linkedin_status) == (None, None, None)
        assert d.state.account_cooldown_until == d.account_cooldown_until
        assert d.reason == f"Account in cannot_resend_yet cooldown until {d.account_cooldown_until.isoformat()}"
        ends.append((d.account_cooldown_until - NOW, d.retry_at - d.account_cooldown_until))
    cooldowns = sorted(c for c, _ in ends)
    jitters = sorted(j for _, j in ends)
    # the random offset spreads over the whole range, not one value
    assert cooldowns[0] < 4 * H + 15 * M and cooldowns[-1] > 8 * H - 15 * M
    assert jitters[0] < 2 * M and jitters[-1] > 14 * M


def test_the_cooldown_is_seeded() -> None:
    one = disposition("cannot_resend_yet", INVITE, NOW, random.Random(42))
    two = disposition("cannot_resend_yet", INVITE, NOW, random.Random(42))
    assert one == two


def test_a_cooldown_is_never_shortened() -> None:
    longer = replace(INVITE, account_cooldown_until=NOW + 10 * H)
    for seed in range(50):
        d = disposition("cannot_resend_yet", longer, NOW, random.Random(seed))
        assert d.account_cooldown_until == NOW + 10 * H
        assert d.retry_at is not None and NOW + 10 * H + M <= d.retry_at <= NOW + 10 * H + 15 * M


def test_a_shorter_existing_cooldown_is_extended() -> None:
    shorter = replace(INVITE, account_cooldown_until=NOW + 1 * H)
    d = disposition("cannot_resend_yet", shorter, NOW, rng())
    assert d.account_cooldown_until is not None and d.account_cooldown_until >= NOW + 4 * H


@pytest.mark.parametrize(
    ("current", "new", "kept"),
    [
        (None, NOW, NOW),
        (NOW, NOW + H, NOW + H),
        (NOW + H, NOW, NOW + H),
        (NOW + H, NOW + H, NOW + H),
    ],
)
def test_greatest(current: datetime | None, new: datetime, kept: datetime) -> None:
    assert greatest(current, new) == kept


def test_a_prospect_held_by_the_account_cooldown_waits_for_its_end() -> None:
    cooling = replace(MESSAGE, account_cooldown_until=NOW + 3 * H, blocker_streak=2)
    d = disposition("account_cooldown", cooling, NOW, rng())
    assert d.retry_at is not None and NOW + 3 * H + M <= d.retry_at <= NOW + 3 * H + 15 * M
    assert (d.outcome, d.advance, d.release_slot, d.enrollment_status) == ("wait", False, True, None)
    assert d.state.blocker_streak == 2  # a cooldown is not a stuck blocker
    assert d.account_cooldown_until == NOW + 3 * H


def test_a_cooldown_known_only_from_the_hint_or_already_over() -> None:
    d = disposition("account_cooldown", MESSAGE, NOW, rng(), not_before=NOW + 2 * H)
    assert d.retry_at is not None and NOW + 2 * H + M <= d.retry_at <= NOW + 2 * H + 15 * M
    over = replace(MESSAGE, account_cooldown_until=NOW - 2 * H)
    d = disposition("account_cooldown", over, NOW, rng())
    assert d.retry_at is not None and NOW + M <= d.retry_at <= NOW + 15 * M
    d = disposition("account_cooldown", MESSAGE, NOW, rng())
    assert d.retry_at is not None and NOW + M <= d.retry_at <= NOW + 15 * M


# --- 404 --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("streak", "retry_in"), [(0, 1 * H), (1, 2 * H)])
def test_a_404_retries_twice(streak: int, retry_in: timedelta) -> None:
    d = decide("not_found", replace(INVITE, not_found_streak=streak))
    assert (d.outcome, d.advance, d.retry_at, d.release_slot) == ("retry", False, NOW + retry_in, True)
    assert (d.enrollment_status, d.cancel_pending) == (None, False)
    assert d.state.not_found_streak == streak + 1
    assert d.reason == f"Profile not found: HTTP 404 ({streak + 1} in a row)"


@pytest.mark.parametrize("streak", [2, 3, 7])
def test_the_third_consecutive_404_excludes_the_prospect(streak: int) -> None:
    d = decide("not_found", replace(INVITE, not_found_streak=streak, account_cooldown_until=NOW + H))
    assert d.outcome == "exclude"
    assert d.enrollment_status == "stopped"
    assert d.reason == "Excluded: profile inaccessible (HTTP 404)"
    assert (d.advance, d.retry_at, d.release_slot, d.cancel_pending) == (False, None, True, True)
    assert d.state.not_found_streak == streak + 1
    assert d.account_cooldown_until == NOW + H  # excluding changes nothing on the account


def test_exclude_is_database_only() -> None:
    d = exclude_inaccessible(replace(INVITE, not_found_streak=3))
    assert (d.outcome, d.enrollment_status, d.reason) == (
        "exclude",
        "stopped",
        "Excluded: profile inaccessible (HTTP 404)",
    )
    assert (d.retry_at, d.release_slot, d.cancel_pending, d.pause_campaign_reason) == (None, True, True, None)


def test_other_errors_do_not_break_or_extend_a_404_streak() -> None:
    d = decide("rate_limited", replace(INVITE, not_found_streak=2))
    assert d.state.not_found_streak == 2


# --- unresolved Sales Navigator URL -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("tries", "retry_in"), [(0, 15 * M), (1, 30 * M), (2, 60 * M), (3, 120 * M)])
def test_an_unresolved_url_backs_off_exponentially(tries: int, retry_in: timedelta) -> None:
    d = decide("unresolved_url", replace(INVITE, url_attempts=tries))
    assert (d.outcome, d.advance, d.retry_at) == ("retry", False, NOW + retry_in)
    assert (d.linkedin_status, d.enrollment_status, d.release_slot) == ("unresolved_url", None, True)
    assert d.state.url_attempts == tries + 1


@pytest.mark.parametrize("tries", [4, 5, 9])
def test_the_fifth_failed_resolution_fails_never_completes(tries: int) -> None:
    d = decide("unresolved_url", replace(INVITE, url_attempts=tries))
    assert (d.outcome, d.enrollment_status, d.linkedin_status) == ("fail", "failed", "failed")
    assert d.reason == "Sales Navigator URL could not be resolved after 5 tries"
    assert (d.advance, d.retry_at, d.release_slot, d.cancel_pending) == (False, None, True, True)
    assert d.state.url_attempts == tries + 1


# --- other 422s, refusals and transient blockers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("invalid", "request refused by LinkedIn (HTTP 422)"),
        ("forbidden", "action not allowed by LinkedIn (HTTP 403)"),
    ],
)
def test_other_422s_defer_and_do_not_burn(code: str, reason: str) -> None:
    for streak in range(4):
        d = decide(code, replace(MESSAGE, blocker_streak=streak))
        assert (d.outcome, d.advance, d.retry_at, d.release_slot) == ("defer", False, NOW + 30 * M, True)
        assert (d.enrollment_status, d.reason) == (None, reason)
        assert d.state.blocker_streak == streak + 1
    d = decide(code, replace(MESSAGE, blocker_streak=4))
    assert (d.outcome, d.enrollment_status) == ("fail", "failed")
    assert d.reason == f"Permanently failed after 5 stuck: {reason}"


def test_a_defer_waits_for_a_later_hint() -> None:
    assert decide("invalid", MESSAGE, not_before=NOW + 2 * H).retry_at == NOW + 2 * H
    assert decide("invalid", MESSAGE, not_before=NOW + 10 * M).retry_at == NOW + 30 * M


@pytest.mark.parametrize(
    ("code", "release", "reason"),
    [
        ("rate_limited", True, "provider rate limit (HTTP 429)"),
        ("unavailable", False, "provider unavailable"),  # a timeout may have reached LinkedIn: keep it counted
        ("limit_reached", False, "account limit reached"),  # the reservation itself was refused
        ("outside_window", True, "no slot in the sending window"),
    ],
)
def test_transient_blockers_back_off_then_fail_after_5_stuck(code: str, release: bool, reason: str) -> None:
    for streak, wait in ((0, 5 * M), (1, 10 * M), (2, 20 * M), (3, 40 * M)):
        d = decide(code, replace(MESSAGE, blocker_streak=streak))
        assert (d.outcome, d.advance, d.retry_at, d.release_slot) == ("retry", False, NOW + wait, release)
        assert (d.enrollment_status, d.pause_campaign_reason, d.reason) == (None, None, reason)
        assert d.state.blocker_streak == streak + 1
    d = decide(code, replace(MESSAGE, blocker_streak=4))
    assert (d.outcome, d.enrollment_status, d.linkedin_status) == ("fail", "failed", "failed")
    assert d.reason == f"Permanently failed after 5 stuck: {reason}"
    assert (d.advance, d.retry_at, d.release_slot, d.cancel_pending) == (False, None, release, True)
    assert d.pause_campaign_reason is None
    assert d.state.blocker_streak == 5


def test_an_unavailable_provider_that_never_got_the_request_frees_the_slot() -> None:
    d = disposition("unavailable", MESSAGE, NOW, rng(), request_sent=False)
    assert (d.outcome, d.release_slot, d.retry_at) == ("retry", True, NOW + 5 * M)
    assert disposition("unavailable", MESSAGE, NOW, rng(), request_sent=True).release_slot is False
    assert disposition("unavailable", ENDORSE, NOW, rng(), request_sent=False).release_slot is True
    assert disposition("unavailable", ENDORSE, NOW, rng()).release_slot is False
    # the flag matters only for a call whose fate is unknown
    assert disposition("rate_limited", MESSAGE, NOW, rng(), request_sent=False).release_slot is True
    assert disposition("limit_reached", MESSAGE, NOW, rng(), request_sent=False).release_slot is False


def test_a_blocker_waits_for_what_the_error_says() -> None:
    reset = datetime(2026, 6, 11, tzinfo=UTC)
    assert decide("limit_reached", MESSAGE, not_before=reset).retry_at == reset
    assert decide("rate_limited", MESSAGE, not_before=NOW + 90 * M).retry_at == NOW + 90 * M
    assert decide("rate_limited", MESSAGE, not_before=NOW + M).retry_at == NOW + 5 * M
    assert decide("outside_window", MESSAGE, not_before=NOW + 5 * M).retry_at == NOW + 5 * M


@pytest.mark.parametrize("code", ["account_disconnected", "credentials", "checkpoint"])
def test_a_disconnected_account_parks_the_prospect_and_pauses_the_campaign(code: str) -> None:
    for streak in range(4):
        d = decide(code, replace(MESSAGE, blocker_streak=streak))
        assert (d.outcome, d.enrollment_status, d.linkedin_status) == ("park", "paused_account", "paused_account")
        assert d.pause_campaign_reason == "linkedin_account_disconnected"
        assert (d.advance, d.retry_at, d.release_slot) == (False, None, True)  # woken by the auto-resume sweep
        assert d.reason == "LinkedIn account disconnected"
        assert d.state.blocker_streak == streak + 1
    d = decide(code, replace(MESSAGE, blocker_streak=4))
    assert (d.outcome, d.enrollment_status) == ("fail", "failed")
    assert d.reason == "Permanently failed after 5 stuck: LinkedIn account disconnected"
    assert d.pause_campaign_reason == "linkedin_account_disconnected"


def test_the_pace_is_not_a_blocker() -> None:
    d = decide(
        "pace_limited", replace(MESSAGE, blocker_streak=4), not_before=NOW + 40 * 1000 * timedelta(microseconds=1)
    )
    assert (d.outcome, d.advance, d.release_slot, d.enrollment_status) == ("wait", False, False, None)
    assert d.retry_at == NOW + timedelta(milliseconds=40)
    assert d.state.blocker_streak == 4
    assert decide("pace_limited", MESSAGE).retry_at == NOW
    assert decide("pace_limited", MESSAGE, not_before=NOW - H).retry_at == NOW


@pytest.mark.parametrize("code", sorted(ERROR_CODES - {"cannot_resend_yet"}))
@pytest.mark.parametrize("action", ["send_invite", "endorse_skill"])
@pytest.mark.parametrize("streaks", [0, 2, 4])
def test_only_cannot_resend_yet_moves_the_account_cooldown(code: str, action: str, streaks: int) -> None:
    state = ActionState(action, streaks, streaks, streaks, streaks % 3, NOW + 3 * H)
    d = decide(code, state)
    assert d.account_cooldown_until == NOW + 3 * H
    assert d.state.account_cooldown_until == NOW + 3 * H


def test_a_success_ends_every_streak_and_keeps_the_cooldown() -> None:
    busy = ActionState("send_invite", 2, 3, 4, 1, NOW + H)
    assert after_success(busy) == ActionState("send_invite", 0, 0, 0, 0, NOW + H)


def test_an_unknown_error_code_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown LinkedIn error code 'teapot'"):
        decide("teapot")


# --- Endorse Skill ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["not_found", "invalid", "forbidden", "rate_limited", "unavailable"])
def test_an_endorse_failure_retries_twice_5_minutes_apart_then_the_step_fails(code: str) -> None:
    first = decide(code, ENDORSE)
    assert (first.outcome, first.advance, first.retry_at, first.state.endorse_failures) == (
        "retry",
        False,
        NOW + 5 * M,
        1,
    )
    second = decide(code, first.state)
    assert (second.outcome, second.retry_at, second.state.endorse_failures) == ("retry", NOW + 5 * M, 2)
    third = decide(code, second.state)
    assert (third.outcome, third.advance, third.step_failed, third.retry_at) == ("step_failed", True, True, None)
    assert (third.enrollment_status, third.reason) == (None, "Endorse skill failed after 2 retries")
    assert third.state.endorse_failures == 0  # the next endorse step starts afresh
    assert {first.release_slot, second.release_slot, third.release_slot} == {code != "unavailable"}
    assert not first.step_failed and not second.step_failed


def test_an_endorse_on_a_disconnected_account_parks_like_any_action() -> None:
    d = decide("credentials", ENDORSE)
    assert (d.outcome, d.enrollment_status, d.state.endorse_failures) == ("park", "paused_account", 0)


SKILLS = [
    Skill("s1", "Python", endorsable=False),
    Skill("s2", "Project Management"),
    Skill("s3", "Data Engineering", endorsed=True),
    Skill("s4", "Cloud Architecture"),
    Skill("s5", "Data Science"),
]


@pytest.mark.parametrize(
    ("skills", "preferred", "chosen", "reason"),
    [
        (SKILLS, None, "s2", None),  # no preference: the first endorsable
        ([Skill("a", "Sales"), Skill("b", "XXXX")], None, "a", None),
        (SKILLS, "", "s2", None),
        (SKILLS, "   ", "s2", None),
        (SKILLS, "cloud", "s4", None),  # case-insensitive partial match
        (SKILLS, "ARCHITECT", "s4", None),
        (SKILLS, " Cloud ", "s4", None),
        (SKILLS, "data", "s5", None),  # the first match not already endorsed
        (SKILLS, "python", "s2", None),  # matches only a skill that cannot be endorsed: the first available
        (SKILLS, "cobol", "s2", None),  # not found: the first available
        (SKILLS, "data engineering", None, "Skipped — already endorsed"),
        ([Skill("a", "Sales", endorsed=True)], None, None, "Skipped — already endorsed"),
        ([Skill("a", "Sales", endorsed=True), Skill("b", "Marketing")], None, "b", None),
        ([], None, None, "Skipped — no endorsable skills found"),
        ([], "sales", None, "Skipped — no endorsable skills found"),
        ([Skill("a", "Sales", endorsable=False)], "sales", None, "Skipped — no endorsable skills found"),
    ],
)
def test_choose_skill(skills: list[Skill], preferred: str | None, chosen: str | None, reason: str | None) -> None:
    choice = choose_skill(skills, preferred)
    assert (choice.skill.id if choice.skill else None, choice.reason) == (chosen, reason)
