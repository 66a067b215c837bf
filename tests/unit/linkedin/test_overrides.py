"""Per-account limit overrides (help center 37.12): explicit, with a risk acknowledgement, never above the safe
ceilings (InMails <= 50/day), and no way to turn the limits off. Each refusal has its stable detail code."""

from __future__ import annotations

from typing import Any

import pytest

from kindling.linkedin.limits import validate_overrides
from kindling.platform.errors import ValidationFailed

# The safe ceilings (docs/decisions.md): no override may go above them.
CEILINGS = [
    ("invites_week", 200),
    ("messages_day", 150),
    ("inmails_day", 50),
    ("profile_views_day", 100),
    ("engagements_day", 50),
]


MESSAGES = {
    "invalid_overrides": "overrides must be an object of limit name to a number.",
    "risk_acknowledgement_required": "Setting a limit override requires acknowledging the risk.",
}


def refused(raw: Any, acknowledged: Any = True) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as caught:
        validate_overrides(raw, risk_acknowledged=acknowledged)
    assert caught.value.code == "validation_error"
    first = caught.value.details[0]["code"]
    assert caught.value.message == MESSAGES.get(first, "The limit overrides are not allowed.")
    return caught.value.details


@pytest.mark.parametrize(("dimension", "ceiling"), CEILINGS)
def test_an_override_up_to_the_ceiling_is_accepted(dimension: str, ceiling: int) -> None:
    assert validate_overrides({dimension: ceiling}, risk_acknowledged=True) == {dimension: ceiling}
    assert validate_overrides({dimension: ceiling - 1}, risk_acknowledged=True) == {dimension: ceiling - 1}
    assert validate_overrides({dimension: 0}, risk_acknowledged=True) == {dimension: 0}


@pytest.mark.parametrize(("dimension", "ceiling"), CEILINGS)
def test_an_override_above_the_ceiling_is_refused(dimension: str, ceiling: int) -> None:
    assert refused({dimension: ceiling + 1}) == [
        {
            "field": f"overrides.{dimension}",
            "message": f"must be at most {ceiling} (the safe ceiling)",
            "code": "override_above_safe_ceiling",
        }
    ]


def test_inmails_never_above_50_even_for_a_recruiter_contract() -> None:
    assert refused({"inmails_day": 100})[0]["code"] == "override_above_safe_ceiling"


def test_setting_an_override_needs_the_risk_acknowledgement() -> None:
    for acknowledged in (False, None, "true", 1, "yes"):
        assert refused({"inmails_day": 30}, acknowledged) == [
            {
                "field": "risk_acknowledged",
                "message": "must be true to set an override",
                "code": "risk_acknowledgement_required",
            }
        ]
    assert validate_overrides({"inmails_day": 30}, risk_acknowledged=True) == {"inmails_day": 30}


def test_clearing_overrides_needs_no_acknowledgement() -> None:
    assert validate_overrides({"inmails_day": None}, risk_acknowledged=False) == {"inmails_day": None}
    assert validate_overrides({}, risk_acknowledged=False) == {}


def test_one_set_and_one_cleared_needs_the_acknowledgement() -> None:
    assert refused({"inmails_day": None, "messages_day": 10}, False)[0]["code"] == "risk_acknowledgement_required"
    assert validate_overrides({"inmails_day": None, "messages_day": 10}, risk_acknowledged=True) == {
        "inmails_day": None,
        "messages_day": 10,
    }


@pytest.mark.parametrize(
    "value", [-1, -100, float("inf"), float("-inf"), "unlimited", "OFF", "none", "Disabled", "no limit"]
)
def test_limits_cannot_be_turned_off(value: Any) -> None:
    assert refused({"messages_day": value}) == [
        {
            "field": "overrides.messages_day",
            "message": "safety limits cannot be turned off",
            "code": "limits_cannot_be_disabled",
        }
    ]


@pytest.mark.parametrize("key", ["disable_all_limits", "disable_limits", "unlimited", "off"])
def test_there_is_no_disable_all_switch(key: str) -> None:
    details = refused({key: True})
    assert details[0]["code"] == "limits_cannot_be_disabled"
    assert details[0]["field"] == f"overrides.{key}"


@pytest.mark.parametrize("key", ["invites_day", "messages", "INMAILS_DAY", "posts_day"])
def test_an_unknown_limit_is_refused(key: str) -> None:
    assert refused({key: 5}) == [
        {
            "field": f"overrides.{key}",
            "message": "must be one of invites_week, messages_day, inmails_day, profile_views_day, engagements_day",
            "code": "unknown_limit",
        }
    ]


@pytest.mark.parametrize("value", [True, False, 2.5, 10.0, 0.0, 0.5, "10", [10], {"n": 1}])
def test_an_override_is_a_whole_number(value: Any) -> None:
    assert refused({"engagements_day": value}) == [
        {"field": "overrides.engagements_day", "message": "must be a whole number", "code": "invalid_override"}
    ]


@pytest.mark.parametrize("raw", [None, [], "inmails_day=10", 10, [("inmails_day", 10)]])
def test_overrides_are_an_object(raw: Any) -> None:
    assert refused(raw) == [{"field": "overrides", "message": "must be an object", "code": "invalid_overrides"}]


def test_every_problem_is_reported_and_nothing_is_half_accepted() -> None:
    details = refused({"inmails_day": 51, "messages_day": 10, "bogus": 1, "engagements_day": "unlimited"})
    assert [(d["field"], d["code"]) for d in details] == [
        ("overrides.inmails_day", "override_above_safe_ceiling"),
        ("overrides.bogus", "unknown_limit"),
        ("overrides.engagements_day", "limits_cannot_be_disabled"),
    ]
