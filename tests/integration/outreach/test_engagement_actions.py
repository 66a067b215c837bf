"""Endorse skill and comment against the provider emulator over real HTTP (issue 18; help center "LinkedIn Skill
Endorsements", L1992-2085: the full profile's skills with endorsement ids, the preferred skill by case-insensitive
partial match else the first available, "Skipped — no endorsable skills found", already endorsed -> skipped, 2
retries 5 minutes apart then the step is marked failed and the enrollment continues; both count against the
engagement cap). A comment is never posted twice, whether the worker died after the call or the call's answer
was lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kindling.linkedin.service import default_provider
from kindling.linkedin.usage import UsageRepository
from kindling.outreach import rules
from kindling.outreach.engine import ActionWorker, handle_batch
from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import INVITE, VIEW, WAIT

SKILLS = [("Public Speaking", 101), ("Python Programming", 102), ("Sales Strategy", 103)]
COMMENT = {
    "type": "linkedin",
    "linkedinActionType": "comment",
    "linkedinMessageTemplate": "Loved this, {{firstName}}!",
    "linkedinEngagementConfig": {"postMaxAgeDays": 7},
    "delayDays": 0,
}


def endorse(preferred: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"type": "linkedin", "linkedinActionType": "endorse_skill", "delayDays": 0}
    if preferred is not None:
        step["linkedinEngagementConfig"] = {"preferredSkill": preferred}
    return step


def ledger(engine: Engine, cid: str, pid: str, index: int) -> Any:
    steps = engine.world.ok("GET", f"/api/v1/campaigns/{cid}")["steps"]
    enrollment_id = engine.enrollment(cid, pid).enrollment_id
    return engine.repo.action(engine.world.tenant.workspace_id, rules.action_id_for(enrollment_id, steps[index]["id"]))


def connected_at_endorse(engine: Engine, slug: str, preferred: str | None, skills: list[tuple[str, int]]) -> tuple:
    """Invite, the acceptance (webhook), then the endorse step due: (campaign id, prospect id, account)."""
    engine.emulator.set_skills(slug, skills)
    cid, pid, account = engine.invited(slug, steps=[INVITE, WAIT, endorse(preferred), VIEW])
    engine.run(minutes=1)  # the wait starts
    engine.emulator.accept_invitation(engine.invitations_to(slug)[0].id)
    item = engine.enrollment(cid, pid)
    assert item.current_step == 2
    engine.world.clock.set(item.next_send_at)
    return cid, pid, account


def endorsements(engine: Engine) -> list[int]:
    return [skill for _, _, skill in engine.emulator.endorsements]


def engagements(engine: Engine, account: dict[str, Any]) -> int:
    usage = UsageRepository().usage(engine.world.tenant.workspace_id, account["id"], engine.world.clock.now())
    return int(usage["engagements_day"])


def test_endorse_picks_the_preferred_skill_by_a_case_insensitive_partial_match(engine: Engine) -> None:
    cid, pid, account = connected_at_endorse(engine, "grace-hopper", "python", SKILLS)
    engine.run(minutes=1)
    assert endorsements(engine) == [102]  # "Python Programming", not the first listed
    assert engagements(engine, account) == 1  # the engagement cap (shared with likes and comments)
    assert ledger(engine, cid, pid, 2).status == "done"
    assert engine.enrollment(cid, pid).current_step == 3  # the sequence goes on


def test_endorse_without_a_matching_preference_takes_the_first_available_skill(engine: Engine) -> None:
    cid, pid, _ = connected_at_endorse(engine, "joan-clarke", "Rust", SKILLS)
    engine.run(minutes=1)
    assert endorsements(engine) == [101]
    assert engine.enrollment(cid, pid).current_step == 3


def test_endorse_skips_a_profile_without_skills_and_an_already_endorsed_skill(engine: Engine) -> None:
    cid, pid, account = connected_at_endorse(engine, "hedy-lamarr", None, [])
    engine.run(minutes=1)
    assert endorsements(engine) == []
    got = ledger(engine, cid, pid, 2)
    assert (got.status, got.outcome) == ("skipped", "Skipped — no endorsable skills found")
    assert engine.enrollment(cid, pid).current_step == 3
    assert engagements(engine, account) == 0  # a skipped step frees its slot

    cid, pid, account = connected_at_endorse(engine, "radia-perlman", "Sales", SKILLS)
    member = engine.emulator._profile_for("radia-perlman").provider_id
    engine.emulator.endorsements.append((engine.provider_account(account), member, 103))  # by hand, earlier
    engine.run(minutes=1)
    got = ledger(engine, cid, pid, 2)
    assert (got.status, got.outcome) == ("skipped", "Skipped — already endorsed")
    assert engine.world.provider_calls("POST", "/linkedin/profile/endorse") == 0


def test_a_failing_endorsement_retries_twice_five_minutes_apart_then_fails_the_step_and_continues(
    engine: Engine,
) -> None:
    cid, pid, _ = connected_at_endorse(engine, "barbara-liskov", None, SKILLS)
    engine.emulator.fail_endorsements(9, 500)  # each attempt: the client's 3 calls answer 500
    started = engine.world.clock.now()
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert item.current_step == 2
    assert item.next_send_at - started == timedelta(minutes=5)  # retry 1
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert item.current_step == 2
    assert item.next_send_at - engine.world.clock.now() == timedelta(minutes=4)  # 5 minutes after the attempt
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)  # retry 2 fails too: the step is failed, the enrollment goes on
    assert engine.world.provider_calls("POST", "/linkedin/profile/endorse") == 9
    got = ledger(engine, cid, pid, 2)
    assert (got.status, got.outcome) == ("failed", "Endorse skill failed after 2 retries")
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("active", 3)
    assert endorsements(engine) == []


def _comment_campaign(engine: Engine, slug: str, post_ages_days: list[int]) -> tuple[str, str, dict[str, Any]]:
    account = engine.world.connect()
    now = engine.world.clock.now()
    for n, age in enumerate(post_ages_days):
        engine.emulator.create_post(slug, f"Post {n}", created_at=now - timedelta(days=age))
    cid = engine.campaign([COMMENT, VIEW], [account["id"]])
    engine.start(cid)
    pid = engine.prospect(slug, slug.split("-")[0].title())
    engine.enroll(cid, [pid])
    return cid, pid, account


def test_comment_renders_the_template_on_the_most_recent_post_within_post_max_age_days(engine: Engine) -> None:
    cid, pid, account = _comment_campaign(engine, "grace-murray", [10, 2, 6])
    engine.run(minutes=1)
    comments = engine.emulator.comments_by(engine.provider_account(account))
    newest = next(p for p in engine.emulator.posts.values() if p.text == "Post 1")
    assert [(c.post_id, c.text) for c in comments] == [(newest.social_id, "Loved this, Grace!")]
    assert engagements(engine, account) == 1
    assert engine.enrollment(cid, pid).current_step == 1


def test_comment_skips_when_no_post_is_recent_enough(engine: Engine) -> None:
    cid, pid, account = _comment_campaign(engine, "ida-rhodes", [8, 30])
    engine.run(minutes=1)
    assert engine.emulator.comments_by(engine.provider_account(account)) == []
    assert engine.world.provider_calls("POST", "/comments") == 0
    got = ledger(engine, cid, pid, 0)
    assert (got.status, got.outcome) == ("skipped", "Skipped — no recent post")
    assert engagements(engine, account) == 0
    assert engine.enrollment(cid, pid).current_step == 1


def test_a_comment_whose_answer_was_lost_is_not_posted_again_on_the_retry(engine: Engine) -> None:
    cid, pid, account = _comment_campaign(engine, "edith-clarke", [1])
    engine.emulator.fail_next_comment(504, posted=True)  # LinkedIn took it; the answer never came
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert item.current_step == 0  # retried later (a transient blocker)
    engine.world.clock.set(item.next_send_at)
    engine.run(minutes=1)
    assert [c.text for c in engine.emulator.comments_by(engine.provider_account(account))] == ["Loved this, Edith!"]
    assert engine.world.provider_calls("POST", "/comments") == 1
    assert engine.enrollment(cid, pid).current_step == 1


class _Crash(BaseException):
    """The process dies (not an exception the worker handles)."""


class _CrashAfterComment:
    """The real provider client; the process dies right after the comment reached the provider."""

    def __init__(self) -> None:
        self._inner = default_provider()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def comment_on_post(self, account_id: str, post_id: str, text: str) -> str | None:
        self._inner.comment_on_post(account_id, post_id, text)
        raise _Crash(post_id)


def test_a_crash_after_the_comment_never_comments_twice(engine: Engine) -> None:
    cid, pid, account = _comment_campaign(engine, "mary-keller", [1])
    engine.tick()
    records = engine.receive()
    assert len(records) == 1
    crashing = ActionWorker(_CrashAfterComment(), repository=engine.repo)  # type: ignore[arg-type]
    try:
        handle_batch(crashing, records)
    except _Crash:
        pass
    else:
        raise AssertionError("the worker was meant to die")
    assert engine.enrollment(cid, pid).current_step == 0  # the final write never happened
    assert handle_batch(engine.worker, records)["batchItemFailures"] == []  # SQS delivers it again
    engine.world.advance(60 * 11)  # the 10-minute lease brings the dead worker's action back
    engine.run(minutes=1)
    assert [c.text for c in engine.emulator.comments_by(engine.provider_account(account))] == ["Loved this, Mary!"]
    assert engine.world.provider_calls("POST", "/comments") == 1
    assert ledger(engine, cid, pid, 0).status == "done"
    engine.world.clock.set(engine.enrollment(cid, pid).next_send_at)  # the view step's time
    engine.run(minutes=1)
    item = engine.enrollment(cid, pid)
    assert (item.status, item.current_step) == ("completed", 2)  # the comment, then the view step


def test_endorse_skips_a_prospect_who_is_not_a_connection(engine: Engine) -> None:
    """Only a connection can be endorsed: the profile read shows a stranger's skills without endorsement ids, so
    the step skips ("no endorsable skills") without an endorse call and the sequence goes on."""
    engine.emulator.set_skills("annie-easley", SKILLS)
    account = engine.world.connect()
    cid = engine.campaign([endorse("Python"), VIEW], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("annie-easley", "Annie")
    engine.enroll(cid, [pid])
    engine.run(minutes=1)
    got = ledger(engine, cid, pid, 0)
    assert (got.status, got.outcome) == ("skipped", "Skipped — no endorsable skills found")
    assert engine.world.provider_calls("POST", "/linkedin/profile/endorse") == 0
    assert engine.enrollment(cid, pid).current_step == 1
