"""An in-process API with extra test-only routes that exercise the platform's POST and list helpers and a route that
fails on demand (a server error or a returned client error under an Idempotency-Key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import UnicodeAttribute

from kindling.api.app import create_app
from kindling.api.envelope import respond, respond_page
from kindling.api.routing import api_router, principal_of, scope
from kindling.platform.clock import get_clock
from kindling.platform.dynamo import TableModel, bind_models, query_page
from kindling.platform.ids import prefixed_id
from kindling.platform.keys import workspace_key


class WidgetItem(TableModel):
    name = UnicodeAttribute()


class WidgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    size: int = Field(ge=1, le=10)


@dataclass
class Calls:
    creates: int = 0
    names: list[str] = field(default_factory=list)
    # What POST /_test/flaky does on each call, in order: an HTTP status to answer with, or "raise" (an unexpected
    # exception); it answers 201 once the script is used up.
    flaky_script: list[int | str] = field(default_factory=list)
    flaky_runs: int = 0


def widget_app(calls: Calls) -> FastAPI:
    router = api_router("Test widgets")

    @router.post("/_test/widgets", openapi_extra=scope("mailboxes:write"), status_code=201)
    def create_widget(request: Request, body: WidgetIn) -> JSONResponse:
        calls.creates += 1
        calls.names.append(body.name)
        workspace_id = principal_of(request).workspace_id
        widget_id = prefixed_id("wdg")
        bind_models()
        WidgetItem(
            pk=workspace_key(workspace_id, "WIDGET", widget_id),
            gsi1pk=workspace_key(workspace_id, "WIDGET"),
            gsi1sk=f"{get_clock().now().isoformat()}#{widget_id}",
            name=body.name,
        ).save()
        return respond({"id": widget_id, "name": body.name}, status_code=201)

    @router.get("/_test/widgets", openapi_extra=scope("mailboxes:read"))
    def list_widgets(
        request: Request, limit: int = Query(50, ge=1, le=100), cursor: str | None = Query(None)
    ) -> JSONResponse:
        workspace_id = principal_of(request).workspace_id
        page = query_page(
            WidgetItem.gsi1,
            workspace_key(workspace_id, "WIDGET"),
            workspace_id=workspace_id,
            limit=limit,
            cursor=cursor,
            index_keys=("gsi1pk", "gsi1sk"),
        )
        return respond_page([{"name": w.name} for w in page.items], page.next_cursor)

    @router.post("/_test/flaky", openapi_extra=scope("mailboxes:write"), status_code=201)
    def flaky(body: WidgetIn) -> JSONResponse:
        calls.flaky_runs += 1
        step = calls.flaky_script.pop(0) if calls.flaky_script else 201
        if step == "raise":
            raise RuntimeError("the route failed unexpectedly")
        assert isinstance(step, int)
        if step >= 400:
            payload = {"error": {"code": "test_failure", "message": f"run {calls.flaky_runs}", "details": []}}
            return JSONResponse(payload, status_code=step)
        return respond({"run": calls.flaky_runs, "name": body.name}, status_code=step)

    @router.get("/_test/boom", openapi_extra=scope("mailboxes:read"))
    def boom() -> JSONResponse:
        raise RuntimeError("an unexpected bug")

    app = create_app()
    app.include_router(router)
    return app


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def client(aws: None, clock: object, calls: Calls) -> Iterator[TestClient]:
    with TestClient(widget_app(calls), raise_server_exceptions=False) as test_client:
        yield test_client
