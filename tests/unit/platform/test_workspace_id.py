"""Routes take the caller's workspace from one dependency (kindling.api.routing.WorkspaceId), which is invisible in
the OpenAPI document."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from kindling.api.app import create_app
from kindling.api.routes import ROUTER_MODULES
from kindling.api.routing import workspace_id_of


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _routes() -> list[tuple[str, APIRoute]]:
    routes = []
    for module_name in ROUTER_MODULES:
        for route in importlib.import_module(module_name).router.routes:
            assert isinstance(route, APIRoute)
            routes.append((module_name, route))
    return routes


def test_the_openapi_document_shows_no_workspace_or_request_parameter() -> None:
    document = create_app().openapi()
    names = {
        (path, method, parameter["name"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
    }
    assert names  # the document has parameters at all (path ids, limit, cursor...)
    leaked = {entry for entry in names if entry[2].lower().replace("_", "") in {"workspaceid", "request"}}
    assert leaked == set()


def test_every_route_but_me_takes_its_workspace_from_the_dependency() -> None:
    """GET /me needs the whole principal (key id, scopes); POST /mailboxes/test saves nothing, so needs none."""
    without = {
        (route.path, method)
        for _, route in _routes()
        for method in route.methods
        if workspace_id_of not in _calls(route.dependant)
    }
    assert without == {("/api/v1/me", "GET"), ("/api/v1/mailboxes/test", "POST")}


def test_no_route_reads_the_workspace_off_the_principal_by_hand() -> None:
    by_hand = [
        f"{module_name}:{route.name}"
        for module_name, route in _routes()
        if ".workspace_id" in inspect.getsource(route.endpoint)
        and "principal" in inspect.getsource(route.endpoint)
        and route.path != "/api/v1/me"
    ]
    assert by_hand == []
