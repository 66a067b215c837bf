"""Pure rules of the LinkedIn engine, table-driven."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from kindling.campaigns.models import LinkedInEngagementConfig, StepRecord
from kindling.linkedin.dispositions import ActionState, choose_skill
from kindling.linkedin.provider import ProviderPost, ProviderSkill
from kindling.outreach import rules
from kindling.sending import windows

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.linkedin.com/in/ada-lovelace/", ("ada-lovelace", False)),
        ("https://linkedin.com/in/ada?trk=x", ("ada", False)),
        ("http://www.linkedin.com/pub/grace", ("grace", False)),
        ("https://www.linkedin.com/sales/lead/ACwAAA123,NAME_SEARCH", (None, True)),
        ("https://www.linkedin.com/sales/people/ACwAAA123", (None, True)),
        ("https://example.com/ada", (None, False)),
        (None, (None, False)),
        ("", (None, False)),
    ],
)
def test_the_profile_identifier_of_a_linkedin_url(url: str | None, expected: tuple[str | None, bool]) -> None:
    assert rules.profile_identifier(url) == expected


def test_one_action_id_per_enrollment_and_step() -> None:
    a = rules.action_id_for("enr_1", "step_1")
    assert a == rules.action_id_for("enr_1", "step_1")
    assert len({a, rules.action_id_for("enr_1", "step_2"), rules.action_id_for("enr_2", "step_1")}) == 3
    assert len(a) == 32


@pytest.mark.parametrize(
    ("pool", "sticky", "expected_len", "first"),
    [
        (["li_a", "li_b", "li_c"], None, 3, None),
        (["li_a", "li_b", "li_c"], "li_b", 1, "li_b"),
        ([], None, 0, None),
        (["li_a"], "li_gone", 1, "li_gone"),
    ],
)
def test_rotation_is_sticky_once_an_invite_went_out(
    pool: list[str], sticky: str | None, expected_len: int, first: str | None
) -> None:
    order = rules.rotation(pool, "prospect_1", sticky)
    assert len(order) == expected_len
    if first is not None:
        assert order[0] == first
    if sticky is None and pool:
        assert sorted(order) == sorted(pool)
        assert order == rules.rotation(pool, "prospect_1", None)  # stable per prospect


def test_prospects_spread_over_the_pool() -> None:
    firsts = {rules.rotation(["li_a", "li_b"], f"p{n}", None)[0] for n in range(40)}
    assert firsts == {"li_a", "li_b"}


def _step(index: int, action: str | None, *, days: int = 0, wait: int | None = None) -> StepRecord:
    return StepRecord.model_validate(
        {
            "id": f"s{index}",
            "step_index": index,
            "type": "linkedin" if action else "email",
            "linkedin_action_type": action,
            "linkedin_max_wait_days": wait,
            "delay_days": days,
            "created_at": NOW,
            "updated_at": NOW,
            "variants": [] if action else [{"id": "v1", "letter": "A", "subject": "Hi", "body_html": "<p>x</p>"}],
        }
    )


ALWAYS = windows.Schedule.per_day("UTC", {d: [windows.Window(0, windows.MINUTES_PER_DAY)] for d in range(1, 8)})


@pytest.mark.parametrize(
    ("steps", "index", "next_index", "due_after", "deadline_days"),
    [
        ([_step(0, "send_invite"), _step(1, "wait_accept")], 0, 1, timedelta(days=14), 14),
        ([_step(0, "send_invite"), _step(1, "wait_accept", wait=3)], 0, 1, timedelta(days=3), 3),
        ([_step(0, "view_profile"), _step(1, "send_invite", days=2)], 0, 1, timedelta(days=2), None),
        ([_step(0, "view_profile")], 0, 1, None, None),
        ([_step(0, "send_message"), _step(1, "wait_reply")], 0, 1, timedelta(days=14), 14),
    ],
)
def test_what_follows_a_step(
    steps: list[StepRecord], index: int, next_index: int, due_after: timedelta | None, deadline_days: int | None
) -> None:
    step, position, when, deadline = rules.next_due(steps, index, NOW, ALWAYS, random.Random(1))
    assert position == next_index
    if due_after is None:
        assert (step, when, deadline) == (None, None, None)
        return
    assert when is not None
    if deadline_days is not None:
        assert when == NOW + timedelta(days=deadline_days) == deadline
    else:
        # the delay, plus 1-5 minutes of jitter, never earlier
        assert NOW + due_after + timedelta(minutes=1) <= when <= NOW + due_after + timedelta(minutes=5)
        assert deadline is None


@pytest.mark.parametrize(
    ("action", "due_after"),
    [
        ("wait_reply", timedelta(0)),  # the prospect already replied: the replied branch at once
        ("wait_accept", timedelta(days=5)),  # a reply does not meet wait_accept's condition
    ],
)
def test_a_wait_reply_after_a_reply_is_due_at_once(action: str, due_after: timedelta) -> None:
    steps = [_step(0, "send_message"), _step(1, action, wait=5)]
    step, position, when, deadline = rules.next_due(steps, 0, NOW, ALWAYS, random.Random(1), replied=True)
    assert (step, position) == (steps[1], 1)
    assert (when, deadline) == (NOW + due_after, NOW + timedelta(days=5))  # the deadline still stands


def test_the_streaks_round_trip() -> None:
    state = ActionState(
        action_type="send_invite",
        not_found_streak=2,
        url_attempts=1,
        blocker_streak=3,
        endorse_failures=1,
        account_cooldown_until=NOW + timedelta(hours=5),
    )
    assert rules.state_of(rules.state_json(state), "send_invite") == state
    assert rules.state_of(None, "view_profile") == ActionState(action_type="view_profile")


def test_a_step_before_an_email_step_hands_the_enrollment_to_the_email_shards() -> None:
    """Multichannel: after a LinkedIn step, an email step is the email scheduler's (`DUE#SEND#<nn>`); after an
    email or LinkedIn step, a LinkedIn step is the LinkedIn scheduler's (`DUE#LI#<nn>`)."""
    from kindling.campaigns.models import CampaignRecord
    from kindling.outreach.engine import advance_after
    from kindling.outreach.repository import LinkedInEnrollmentItem

    steps = [_step(0, "send_invite"), _step(1, None), _step(2, "view_profile")]
    record = CampaignRecord(
        campaign_id="c1",
        workspace_id="ws_abc123",
        name="x",
        channel="multichannel",
        steps=steps,
        created_at=NOW,
        updated_at=NOW,
    )
    item = LinkedInEnrollmentItem(pk="ws_abc123#CAMPAIGN#c1", sk="ENROLL#p1", status="active", current_step=0)
    to_email = advance_after(record, item, 0, NOW, ALWAYS, random.Random(1))
    assert to_email.due is not None and to_email.due[0].startswith("DUE#SEND#")
    assert (to_email.next_step, to_email.status) == (1, "active")
    to_linkedin = advance_after(record, item, 1, NOW, ALWAYS, random.Random(1))
    assert to_linkedin.due is not None and to_linkedin.due[0].startswith("DUE#LI#")
    last = advance_after(record, item, 2, NOW, ALWAYS, random.Random(1))
    assert (last.status, last.due) == ("completed", None)


@pytest.mark.parametrize(
    ("action", "on_timeout", "on_reply", "met", "branch"),
    [
        # wait_accept: an acceptance always goes on; a timeout stops unless configured (help center L4297: "move to
        # the conditional branch (if configured) or stop for that prospect")
        ("wait_accept", None, None, True, "continue"),
        ("wait_accept", "stop", None, True, "continue"),
        ("wait_accept", None, None, False, "stop"),
        ("wait_accept", "stop", None, False, "stop"),
        ("wait_accept", "continue", None, False, "continue"),
        # wait_reply, the condition "replied": a reply takes linkedinOnReply (default continue), a timeout
        # linkedinOnTimeout (default continue, what wait_reply always did)
        ("wait_reply", None, None, True, "continue"),
        ("wait_reply", None, "continue", True, "continue"),
        ("wait_reply", None, "stop", True, "stop"),
        ("wait_reply", "stop", None, True, "continue"),  # the timeout branch is not the replied one
        ("wait_reply", "continue", "stop", True, "stop"),
        ("wait_reply", None, None, False, "continue"),
        ("wait_reply", "continue", None, False, "continue"),
        ("wait_reply", "stop", None, False, "stop"),
        ("wait_reply", None, "stop", False, "continue"),  # the replied branch is not the timeout one
    ],
)
def test_the_branch_a_wait_takes(
    action: str, on_timeout: str | None, on_reply: str | None, met: bool, branch: str
) -> None:
    step = _step(1, action).model_copy(update={"linkedin_on_timeout": on_timeout, "linkedin_on_reply": on_reply})
    assert rules.wait_outcome(step, met) == branch


@pytest.mark.parametrize(
    ("action", "wait", "met", "expected"),
    [
        ("wait_accept", None, False, ("stopped", "Invitation not accepted within 14 days")),
        ("wait_accept", 7, False, ("stopped", "Invitation not accepted within 7 days")),
        ("wait_reply", None, False, ("stopped", "No reply within 14 days")),
        ("wait_reply", 3, False, ("stopped", "No reply within 3 days")),
        ("wait_reply", 3, True, ("replied", "Replied — sequence stopped at wait for reply")),
    ],
)
def test_how_a_stopping_wait_ends_the_sequence(
    action: str, wait: int | None, met: bool, expected: tuple[str, str]
) -> None:
    assert rules.wait_stop(_step(1, action, wait=wait), met) == expected


def _post(post_id: str, age: timedelta | None) -> ProviderPost:
    return ProviderPost(id=post_id, text=None, author_provider_id=None, created_at=None if age is None else NOW - age)


@pytest.mark.parametrize(
    ("ages", "max_days", "chosen"),
    [
        ([timedelta(days=10), timedelta(days=2), timedelta(days=6)], 7, "p1"),  # the most recent, not the first
        ([timedelta(days=8), timedelta(days=30)], 7, None),  # "Skipped — no recent post"
        ([timedelta(days=30)], 30, "p0"),  # exactly postMaxAgeDays old still counts
        ([timedelta(days=30, seconds=1)], 30, None),
        ([None, timedelta(days=1)], 7, "p1"),  # a post without a date cannot be shown to be recent
        ([None], 7, None),
        ([], 30, None),
    ],
)
def test_the_post_to_comment_or_like(ages: list[timedelta | None], max_days: int, chosen: str | None) -> None:
    posts = [_post(f"p{n}", age) for n, age in enumerate(ages)]
    got = rules.recent_post(posts, NOW, max_days)
    assert (got.id if got else None) == chosen


def test_post_max_age_days_defaults_to_30() -> None:
    assert rules.post_max_age_days(_step(0, "comment")) == 30
    configured = _step(0, "comment").model_copy(
        update={"linkedin_engagement_config": LinkedInEngagementConfig(post_max_age_days=7)}
    )
    assert rules.post_max_age_days(configured) == 7


@pytest.mark.parametrize(
    ("skills", "preferred", "chosen", "reason"),
    [
        ([("Public Speaking", "1", False), ("Python Programming", "2", False)], "PYTHON", "2", None),
        ([("Public Speaking", "1", False), ("Python Programming", "2", False)], None, "1", None),
        ([("Public Speaking", None, False), ("Python Programming", "2", False)], None, "2", None),  # no id: skip it
        ([("Public Speaking", None, False)], None, None, "Skipped — no endorsable skills found"),
        ([], "Sales", None, "Skipped — no endorsable skills found"),
        ([("Sales Strategy", "3", True)], "sales", None, "Skipped — already endorsed"),
    ],
)
def test_the_skill_to_endorse_from_the_profile(
    skills: list[tuple[str, str | None, bool]], preferred: str | None, chosen: str | None, reason: str | None
) -> None:
    profile_skills = [ProviderSkill(name=n, endorsement_id=i, endorsed=e) for n, i, e in skills]
    choice = choose_skill(rules.skills_of(profile_skills), preferred)
    assert (choice.skill.id if choice.skill else None, choice.reason) == (chosen, reason)
