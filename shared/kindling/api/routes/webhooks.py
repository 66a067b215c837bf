"""Webhooks: list/create/update/delete/test (the reference) plus pause/resume, rotate-secret, delivery logs
and replays of dead-lettered deliveries (extensions from the outreach peer)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kindling.api.envelope import current_meta, keep_for_replay, respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Timestamp
from kindling.webhooks.models import Delivery, Webhook, WebhookCreate, WebhookUpdate
from kindling.webhooks.service import WebhookService

router = api_router("Webhooks")

WebhookId = Path(max_length=64, description="The webhook id (`wh_...`).")
DeliveryId = Path(max_length=64, description="The delivery id (`whd_...`).")
CREATED_MESSAGE = "Webhook created. Save the secret - it will not be shown again."
ROTATED_MESSAGE = "Secret rotated. Save the new secret - it will not be shown again."
TEST_QUEUED_MESSAGE = "Test webhook event has been queued for delivery"


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class WebhookView(_View):
    id: str
    url: str
    events: list[str]
    campaign_ids: list[str] | None
    is_active: bool
    last_triggered_at: Timestamp | None = Field(
        description="When a delivery last succeeded, to the minute: successes within a minute of the recorded "
        "time do not move it."
    )
    failure_count: int = Field(description="Deliveries dead-lettered after their last retry.")
    created_at: Timestamp
    updated_at: Timestamp


class CreatedWebhookView(_View):
    id: str
    url: str
    events: list[str]
    campaign_ids: list[str] | None
    is_active: bool
    secret: str
    created_at: Timestamp


class CreatedEnvelope(BaseModel):
    data: CreatedWebhookView
    message: str
    meta: dict[str, str]


class RotatedView(_View):
    id: str
    secret: str
    previous_secret_expires_at: Timestamp


class TestQueuedView(_View):
    event_id: str
    status: Literal["queued"]
    message: str


class AttemptView(_View):
    attempt: int
    attempted_at: Timestamp
    status_code: int | None
    duration_ms: int
    response_body: str | None
    error: str | None


class DeliveryView(_View):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    last_status_code: int | None
    next_retry_at: Timestamp | None
    attempts: list[AttemptView]
    reason: str | None
    replay_of: str | None
    created_at: Timestamp
    updated_at: Timestamp
    delivered_at: Timestamp | None
    failed_at: Timestamp | None


def webhook_view(webhook: Webhook) -> WebhookView:
    return WebhookView(
        id=webhook.id,
        url=webhook.url,
        events=webhook.events,
        campaign_ids=webhook.campaign_ids,
        is_active=webhook.is_active,
        last_triggered_at=webhook.last_triggered_at,
        failure_count=webhook.failure_count,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


def delivery_view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        last_status_code=delivery.attempts[-1].status_code if delivery.attempts else None,
        next_retry_at=delivery.next_attempt_at if delivery.status == "pending" and delivery.attempt_count else None,
        attempts=[
            AttemptView(
                attempt=a.attempt,
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                duration_ms=a.duration_ms,
                response_body=a.response_body,
                error=a.error,
            )
            for a in delivery.attempts
        ],
        reason=delivery.reason,
        replay_of=delivery.replay_of,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        delivered_at=delivery.delivered_at,
        failed_at=delivery.failed_at,
    )


def without_secret(content: dict[str, Any]) -> dict[str, Any]:
    """The response as kept for an Idempotency-Key replay: the secret is shown once and never stored in plaintext,
    so a replay carries `secret: null` and `meta.secret_omitted: true` (rotate the secret to get a new one)."""
    return {
        **content,
        "data": {**content["data"], "secret": None},
        "meta": {**content["meta"], "secret_omitted": True},
    }


@router.get(
    "/webhooks",
    response_model=ListEnvelope[WebhookView],
    openapi_extra=scope("webhooks:read"),
    summary="List webhooks",
)
def list_webhooks(
    workspace_id: WorkspaceId,
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    items, next_cursor = WebhookService().list_page(workspace_id, limit, cursor)
    return respond_page([webhook_view(w) for w in items], next_cursor)


@router.post(
    "/webhooks",
    response_model=CreatedEnvelope,
    status_code=201,
    openapi_extra=scope("webhooks:write"),
    summary="Create a webhook",
)
def create_webhook(workspace_id: WorkspaceId, body: WebhookCreate) -> JSONResponse:
    webhook, secret = WebhookService().create(workspace_id, body)
    view = CreatedWebhookView(
        id=webhook.id,
        url=webhook.url,
        events=webhook.events,
        campaign_ids=webhook.campaign_ids,
        is_active=webhook.is_active,
        secret=secret,
        created_at=webhook.created_at,
    )
    content = {"data": view.model_dump(mode="json", by_alias=True), "message": CREATED_MESSAGE, "meta": current_meta()}
    keep_for_replay(without_secret(content))
    return JSONResponse(content, status_code=201)


@router.get(
    "/webhooks/{webhook_id}",
    response_model=Envelope[WebhookView],
    openapi_extra=scope("webhooks:read"),
    summary="Get a webhook",
)
def get_webhook(workspace_id: WorkspaceId, webhook_id: str = WebhookId) -> JSONResponse:
    return respond(webhook_view(WebhookService().get(workspace_id, webhook_id)))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=Envelope[WebhookView],
    openapi_extra=scope("webhooks:write"),
    summary="Update a webhook",
)
def update_webhook(workspace_id: WorkspaceId, body: WebhookUpdate, webhook_id: str = WebhookId) -> JSONResponse:
    webhook = WebhookService().update(workspace_id, webhook_id, body)
    return respond(webhook_view(webhook))


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    openapi_extra=scope("webhooks:write"),
    summary="Delete a webhook",
)
def delete_webhook(workspace_id: WorkspaceId, webhook_id: str = WebhookId) -> Response:
    WebhookService().delete(workspace_id, webhook_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/test",
    response_model=Envelope[TestQueuedView],
    openapi_extra=scope("webhooks:write", idempotent=False),
    summary="Send a test event",
)
def send_test_event(workspace_id: WorkspaceId, webhook_id: str = WebhookId) -> JSONResponse:
    event_id = WebhookService().send_test(workspace_id, webhook_id)
    return respond(TestQueuedView(event_id=event_id, status="queued", message=TEST_QUEUED_MESSAGE))


@router.post(
    "/webhooks/{webhook_id}/pause",
    response_model=Envelope[WebhookView],
    openapi_extra=scope("webhooks:write", idempotent=False),
    summary="Pause a webhook (extension)",
)
def pause_webhook(workspace_id: WorkspaceId, webhook_id: str = WebhookId) -> JSONResponse:
    return respond(webhook_view(WebhookService().set_active(workspace_id, webhook_id, False)))


@router.post(
    "/webhooks/{webhook_id}/resume",
    response_model=Envelope[WebhookView],
    openapi_extra=scope("webhooks:write", idempotent=False),
    summary="Resume a webhook (extension)",
)
def resume_webhook(workspace_id: WorkspaceId, webhook_id: str = WebhookId) -> JSONResponse:
    return respond(webhook_view(WebhookService().set_active(workspace_id, webhook_id, True)))


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=Envelope[RotatedView],
    openapi_extra=scope("webhooks:write"),
    summary="Rotate the signing secret (extension)",
    description="Returns the new secret once. The previous secret keeps signing alongside it for 24 hours "
    "(two `v1=` values in X-Warmy-Signature, the new one first).",
)
def rotate_secret(workspace_id: WorkspaceId, webhook_id: str = WebhookId) -> JSONResponse:
    webhook, secret, expires = WebhookService().rotate_secret(workspace_id, webhook_id)
    response = respond(
        RotatedView(id=webhook.id, secret=secret, previous_secret_expires_at=expires), message=ROTATED_MESSAGE
    )
    keep_for_replay(without_secret(json.loads(bytes(response.body))))
    return response


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=ListEnvelope[DeliveryView],
    openapi_extra=scope("webhooks:read"),
    summary="List delivery attempts (extension)",
    description="Newest first; kept 30 days. Each delivery lists its attempts with status code, duration and "
    "the response body truncated to 1 KB.",
)
def list_deliveries(
    workspace_id: WorkspaceId,
    webhook_id: str = WebhookId,
    status: Literal["pending", "delivered", "failed", "cancelled"] | None = Query(None),
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    items, next_cursor = WebhookService().deliveries(workspace_id, webhook_id, status, limit, cursor)
    return respond_page([delivery_view(d) for d in items], next_cursor)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    response_model=Envelope[DeliveryView],
    status_code=202,
    openapi_extra=scope("webhooks:write"),
    summary="Replay a dead-lettered delivery (extension)",
)
def replay_delivery(
    workspace_id: WorkspaceId, webhook_id: str = WebhookId, delivery_id: str = DeliveryId
) -> JSONResponse:
    replay = WebhookService().replay(workspace_id, webhook_id, delivery_id)
    return respond(delivery_view(replay), status_code=202)


__all__ = ["router"]
