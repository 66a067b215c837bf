"""The stack's own webhooks at the LinkedIn provider: account status, new relations (acceptances) and new messages,
each registered exactly once, pointing at this stack's ingress (POST /linkedin/provider/webhook) with its secret
header.

`plan_webhooks` is the pure rule; `ensure_webhooks` lists the provider's webhooks, applies the plan (creates first,
then deletes, so an event never finds no webhook) and reports what it did. Which webhooks are ours: those that
point at this stack's ingress URL, and those named as this stack names them (`kindling-<stage>-<source>`), whatever
their URL (the HTTP API's URL changed: stale, replaced). Every other webhook (another application, another stage)
is left alone. A second run with nothing changed makes no call but the listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kindling.linkedin.provider import ProviderError, ProviderWebhook, client_from_settings
from kindling.linkedin.provider_events import SECRET_HEADER
from kindling.platform.settings import Settings, get_settings

# The sources the ingress handles: account status (the accounts' status helper), users (new relations, i.e.
# accepted invitations) and messaging (new messages, i.e. replies).
STACK_WEBHOOK_SOURCES: tuple[str, ...] = ("account_status", "users", "messaging")


class WebhookProvider(Protocol):
    """The provider calls the rule needs (kindling.linkedin.provider.UnipileClient has them)."""

    def list_webhooks(self) -> list[ProviderWebhook]: ...

    def create_webhook(
        self,
        source: str,
        request_url: str,
        headers: dict[str, str],
        name: str | None = None,
        events: list[str] | None = None,
    ) -> str: ...

    def delete_webhook(self, webhook_id: str) -> None: ...


def webhook_name(stage: str, source: str) -> str:
    return f"kindling-{stage}-{source}"


@dataclass(frozen=True)
class WebhookPlan:
    create: list[str]  # sources to register
    delete: list[str]  # ids of ours to remove: a stale URL, a missing secret header, a duplicate
    keep: list[str]  # ids of ours that stay


def _is_current(webhook: ProviderWebhook, ingress_url: str, secret: str) -> bool:
    if webhook.request_url != ingress_url:
        return False
    if webhook.headers is None:  # the listing does not show headers: trust the URL
        return True
    carried = {key.lower(): value for key, value in webhook.headers.items()}
    return carried.get(SECRET_HEADER.lower()) == secret


def plan_webhooks(existing: list[ProviderWebhook], ingress_url: str, secret: str, stage: str) -> WebhookPlan:
    """What to create and delete so that each of STACK_WEBHOOK_SOURCES has exactly one webhook of ours pointing at
    `ingress_url` with the secret header, and no other webhook of ours remains for those sources."""
    names = {webhook_name(stage, source): source for source in STACK_WEBHOOK_SOURCES}
    create: list[str] = []
    delete: list[str] = []
    keep: list[str] = []
    for source in STACK_WEBHOOK_SOURCES:
        ours = [
            w for w in existing if w.source == source and (w.request_url == ingress_url or names.get(w.name) == source)
        ]
        current = [w for w in ours if _is_current(w, ingress_url, secret)]
        # Prefer the one named as this stack names it (a hand-made one at the same URL is then a duplicate).
        current.sort(key=lambda w: w.name != webhook_name(stage, source))
        if current:
            keep.append(current[0].id)
        else:
            create.append(source)
        delete.extend(w.id for w in ours if not current or w.id != current[0].id)
    return WebhookPlan(create=create, delete=delete, keep=keep)


@dataclass
class WebhooksReport:
    created: list[str] = field(default_factory=list)  # sources
    deleted: list[str] = field(default_factory=list)  # ids
    kept: list[str] = field(default_factory=list)  # ids
    failed: list[str] = field(default_factory=list)  # "create <source>: <error>" / "delete <id>: <error>"

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "deleted": self.deleted, "kept": self.kept, "failed": self.failed}


def ensure_webhooks(provider: WebhookProvider, ingress_url: str, secret: str, *, stage: str) -> WebhooksReport:
    """Make the stack's webhooks exist exactly once at the provider (see plan_webhooks). A failed listing raises
    ProviderError (nothing was changed); a failed create or delete is reported in `failed` and the rest goes on.
    A stale webhook is deleted only once its source's replacement exists."""
    if not ingress_url or not secret:
        raise ValueError("ensure_webhooks needs the ingress URL and the webhook secret")
    existing = provider.list_webhooks()
    plan = plan_webhooks(existing, ingress_url, secret, stage)
    report = WebhooksReport(kept=list(plan.keep))
    by_id = {w.id: w for w in existing}
    unreplaced: set[str] = set()
    for source in plan.create:
        try:
            provider.create_webhook(source, ingress_url, {SECRET_HEADER: secret}, name=webhook_name(stage, source))
        except ProviderError as exc:
            report.failed.append(f"create {source}: {exc.code}: {exc.message}")
            unreplaced.add(source)
        else:
            report.created.append(source)
    for webhook_id in plan.delete:
        if by_id[webhook_id].source in unreplaced:
            # Its replacement could not be made: the stale one may still deliver somewhere useful; next run.
            continue
        try:
            provider.delete_webhook(webhook_id)
        except ProviderError as exc:
            if exc.code == "not_found":
                report.deleted.append(webhook_id)
                continue
            report.failed.append(f"delete {webhook_id}: {exc.code}: {exc.message}")
        else:
            report.deleted.append(webhook_id)
    return report


def ensure_stack_webhooks(settings: Settings | None = None) -> dict[str, object]:
    """ensure_webhooks for this stack, from its settings: the provider (KINDLING_LINKEDIN_PROVIDER_URL and its key),
    the ingress URL (KINDLING_LINKEDIN_WEBHOOK_URL: the template sets it from the HTTP API's URL; the local stack
    from its API's) and the secret (KINDLING_LINKEDIN_WEBHOOK_SECRET). A stack without a provider or without an
    ingress URL has nothing to register: `{"skipped": why}`."""
    settings = settings or get_settings()
    if not settings.linkedin_provider_url:
        return {"skipped": "no LinkedIn provider on this stack"}
    if not settings.linkedin_webhook_url or not settings.linkedin_webhook_secret:
        return {"skipped": "no webhook ingress URL or secret on this stack"}
    report = ensure_webhooks(
        client_from_settings(settings),
        settings.linkedin_webhook_url,
        settings.linkedin_webhook_secret,
        stage=settings.stage,
    )
    return dict(report.as_dict())
