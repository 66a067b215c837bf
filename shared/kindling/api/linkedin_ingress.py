"""The LinkedIn provider's calls into Kindling: a public ingress (no API key) under /linkedin/provider/, outside the
published API. Each call must carry this stack's provider webhook secret (a header, or the notify URL's query) or is
refused 401 `invalid_signature` before its body is read (kindling.linkedin.provider_events).

- POST /linkedin/provider/webhook: the provider's webhooks. Account-status events go through the accounts' status
  helper; new-relation events stamp acceptances and new-message events go through the engine's one attribution
  function (kindling.outreach.sweeps / attribution), which also files them in the unified inbox
  (kindling.inbox.linkedin).
- POST /linkedin/provider/notify: the hosted-auth notify callback: links the `connecting` row the link was made for.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kindling.inbox.linkedin import engine_sweeps
from kindling.linkedin.provider_events import (
    MAX_BODY_BYTES,
    AccountStatusChanged,
    NewMessage,
    NewRelation,
    parse_hosted_auth_notify,
    parse_webhook,
    verify,
)
from kindling.linkedin.service import LinkedInAccountService, default_provider
from kindling.platform.errors import PayloadTooLarge
from kindling.platform.settings import get_settings

INGRESS_PREFIX = "/linkedin/provider/"

router = APIRouter()


async def _verified_body(request: Request) -> bytes:
    verify(
        get_settings().linkedin_webhook_secret or "",
        headers=dict(request.headers),
        query=dict(request.query_params),
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge("The webhook body is too large.")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("The webhook body is too large.")
    return body


@router.post("/linkedin/provider/webhook", include_in_schema=False)
async def provider_webhook(request: Request) -> JSONResponse:
    event = parse_webhook(await _verified_body(request))
    handled = "ignored"
    if isinstance(event, AccountStatusChanged):
        account = await run_in_threadpool(
            LinkedInAccountService().handle_status_webhook, event.account_id, event.status
        )
        handled = "account_status" if account is not None else "unknown_account"
    elif isinstance(event, NewRelation):
        counted = await run_in_threadpool(engine_sweeps(default_provider()).on_new_relation, event)
        handled = "unknown_account" if counted is None else "new_relation"
    elif isinstance(event, NewMessage):
        replies = await run_in_threadpool(engine_sweeps(default_provider()).on_new_message, event)
        handled = "unknown_account" if replies is None else "new_message"
    return JSONResponse({"received": True, "handled": handled})


@router.post("/linkedin/provider/notify", include_in_schema=False)
async def hosted_auth_notify(request: Request) -> JSONResponse:
    linked = parse_hosted_auth_notify(await _verified_body(request))
    found = await run_in_threadpool(
        LinkedInAccountService().handle_hosted_auth_notify, linked.name or "", linked.account_id, linked.status
    )
    return JSONResponse({"received": True, "linked": found})
