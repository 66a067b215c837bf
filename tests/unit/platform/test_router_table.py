"""Every route lives under a path segment that ROUTER_MODULES names for its module, or lazy loading would hide it."""

from __future__ import annotations

import importlib

from fastapi.routing import APIRoute

from kindling.api.app import API_PATH_PREFIX, create_app
from kindling.api.routes import ROUTER_MODULES, modules_for_segment


def test_each_route_is_reachable_through_the_segment_table() -> None:
    for module_name, segments in ROUTER_MODULES.items():
        router = importlib.import_module(module_name).router
        for route in router.routes:
            assert isinstance(route, APIRoute)
            assert route.path.startswith(API_PATH_PREFIX), route.path
            segment = route.path[len(API_PATH_PREFIX) :].split("/", 1)[0]
            assert segment in segments, f"{route.path} is not under {segments} ({module_name})"
            assert module_name in modules_for_segment(segment)


def test_routers_load_on_demand_and_all_for_the_openapi_document() -> None:
    app = create_app()
    assert app.loaded_routers == frozenset()  # nothing built at cold start
    app.load_routers(modules_for_segment("me"))
    assert app.loaded_routers == {"kindling.api.routes.me"}
    paths = set(app.openapi()["paths"])
    assert app.loaded_routers == set(ROUTER_MODULES)
    assert {"/api/v1/me", "/api/v1/jobs/{job_id}", "/api/v1/mailboxes"} <= paths
