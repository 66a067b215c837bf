"""The rule that keeps the stack's own provider webhooks (account_status, users, messaging) registered exactly once at
its ingress: table-driven over what the provider already lists."""

from __future__ import annotations

import pytest

from kindling.linkedin.provider import ProviderWebhook
from kindling.linkedin.webhooks import STACK_WEBHOOK_SOURCES, plan_webhooks, webhook_name

INGRESS = "https://abc123.execute-api.us-east-1.amazonaws.com/linkedin/provider/webhook"
OLD_INGRESS = "https://zzz999.execute-api.us-east-1.amazonaws.com/linkedin/provider/webhook"
SECRET = "s3cret-of-this-stack"


def hook(
    webhook_id: str, source: str, url: str = INGRESS, name: str | None = None, headers: dict[str, str] | None = None
) -> ProviderWebhook:
    return ProviderWebhook(
        id=webhook_id,
        source=source,
        request_url=url,
        name=f"kindling-prod-{source}" if name is None else name,
        headers=headers,
    )


ALL_CURRENT = [hook("a", "account_status"), hook("u", "users"), hook("m", "messaging")]
FOREIGN = [
    hook("f1", "messaging", url="https://crm.example.com/hooks/unipile", name="crm-messages"),
    hook("f2", "users", url="https://crm.example.com/hooks/relations", name=""),
    # another stage of Kindling on the same provider account: its own name, its own URL
    hook(
        "f3",
        "users",
        url="https://other.execute-api.eu-west-1.amazonaws.com/linkedin/provider/webhook",
        name="kindling-dev-users",
    ),
]


@pytest.mark.parametrize(
    ("existing", "create", "delete", "keep"),
    [
        pytest.param([], ["account_status", "users", "messaging"], [], [], id="none-registered"),
        pytest.param(ALL_CURRENT, [], [], ["a", "u", "m"], id="all-registered"),
        pytest.param(
            [hook("a", "account_status"), hook("u", "users", url=OLD_INGRESS), hook("m", "messaging")],
            ["users"],
            ["u"],
            ["a", "m"],
            id="one-stale-url",
        ),
        pytest.param(FOREIGN, ["account_status", "users", "messaging"], [], [], id="only-foreign-ones"),
        pytest.param(ALL_CURRENT + FOREIGN, [], [], ["a", "u", "m"], id="foreign-ones-kept-beside-ours"),
        pytest.param(
            [hook("a", "account_status"), hook("a2", "account_status"), hook("u", "users"), hook("m", "messaging")],
            [],
            ["a2"],
            ["a", "u", "m"],
            id="a-duplicate-is-removed",
        ),
        pytest.param(
            # registered by hand before: the right URL without our name is ours and kept (no second one made)
            [hook("a", "account_status", name=""), hook("u", "users", name="li-acceptances"), hook("m", "messaging")],
            [],
            [],
            ["a", "u", "m"],
            id="hand-made-at-our-url-kept",
        ),
        pytest.param(
            [
                hook("a", "account_status", name=""),
                hook("a2", "account_status"),
                hook("u", "users"),
                hook("m", "messaging"),
            ],
            [],
            ["a"],
            ["a2", "u", "m"],
            id="hand-made-duplicate-of-a-named-one-removed",
        ),
        pytest.param(
            [
                hook("a", "account_status", headers={"X-Kindling-Webhook-Secret": "old-secret"}),
                hook("u", "users", headers={"x-kindling-webhook-secret": SECRET}),
                hook("m", "messaging", headers={}),
            ],
            ["account_status", "messaging"],
            ["a", "m"],
            ["u"],
            id="listed-headers-without-the-secret-are-stale",
        ),
        pytest.param(
            [hook("e", "email", url=INGRESS), *ALL_CURRENT],
            [],
            [],
            ["a", "u", "m"],
            id="a-source-we-do-not-use-is-left-alone",
        ),
    ],
)
def test_plan(existing: list[ProviderWebhook], create: list[str], delete: list[str], keep: list[str]) -> None:
    plan = plan_webhooks(existing, INGRESS, SECRET, "prod")
    assert (plan.create, sorted(plan.delete), plan.keep) == (create, sorted(delete), keep)


def test_the_three_sources_and_their_names() -> None:
    assert STACK_WEBHOOK_SOURCES == ("account_status", "users", "messaging")
    assert webhook_name("prod", "users") == "kindling-prod-users"


def test_a_planned_run_then_leaves_nothing_to_do() -> None:
    first = plan_webhooks([hook("u", "users", url=OLD_INGRESS), *FOREIGN], INGRESS, SECRET, "prod")
    after = [w for w in [hook("u", "users", url=OLD_INGRESS), *FOREIGN] if w.id not in first.delete]
    after += [hook(f"new-{s}", s) for s in first.create]
    second = plan_webhooks(after, INGRESS, SECRET, "prod")
    assert (second.create, second.delete) == ([], [])
    assert sorted(second.keep) == ["new-account_status", "new-messaging", "new-users"]
