"""The FastAPI application: routers, middleware, error handlers and the published OpenAPI 3.1 document."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from kindling.api.errors import install_error_handlers
from kindling.api.middleware import PlatformMiddleware
from kindling.api.routes import ROUTER_MODULES, modules_for_segment
from kindling.api.routing import SCOPE_KEY
from kindling.outreach.directory import install_directory

API_VERSION = "1.0.0"
DESCRIPTION = (
    "Kindling's public REST API, compatible with the WarmySender API v1. Authenticate with "
    "`Authorization: Bearer ws_...`. Responses are wrapped as `{data, pagination, meta}`; errors as "
    "`{error: {code, message, details}, meta}`. 60 requests per minute per workspace."
)


API_PATH_PREFIX = "/api/v1/"
_WHOLE_API_PATHS = ("/openapi.json", "/docs")
# The LinkedIn provider's webhooks and hosted-auth notify: public (the middleware authenticates /api/ only), verified
# by the stack's provider secret, and not part of the published API document.
PROVIDER_INGRESS_PREFIX = "/linkedin/provider/"
PROVIDER_INGRESS_MODULE = "kindling.api.linkedin_ingress"


class KindlingAPI(FastAPI):
    """FastAPI that includes each concept's router on the first request that needs it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loaded: set[str] = set()
        self._load_lock = threading.Lock()

    def load_routers(self, modules: list[str]) -> None:
        missing = [m for m in modules if m not in self._loaded]
        if not missing:
            return
        with self._load_lock:
            for module_name in missing:
                if module_name not in self._loaded:
                    self.include_router(importlib.import_module(module_name).router)
                    self._loaded.add(module_name)
            self.openapi_schema = None

    @property
    def loaded_routers(self) -> frozenset[str]:
        return frozenset(self._loaded)

    def load_all_routers(self) -> None:
        self.load_routers(list(ROUTER_MODULES))

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(API_PATH_PREFIX):
                self.load_routers(modules_for_segment(path[len(API_PATH_PREFIX) :].split("/", 1)[0]))
            elif path in _WHOLE_API_PATHS:
                self.load_all_routers()
            elif path.startswith(PROVIDER_INGRESS_PREFIX):
                self.load_routers([PROVIDER_INGRESS_MODULE])
        await super().__call__(scope, receive, send)


def create_app(*, swagger_assets: Path | None = None) -> KindlingAPI:
    """Build the API. `swagger_assets` serves Swagger UI from a local folder (the offline local stack)."""
    app = KindlingAPI(
        title="Kindling API",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None if swagger_assets else "/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    install_directory()  # campaigns see the workspace's LinkedIn accounts
    app.add_middleware(PlatformMiddleware)
    if swagger_assets is not None:
        _serve_local_swagger(app, swagger_assets)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _serve_local_swagger(app: FastAPI, assets: Path) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Kindling API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _openapi(app: KindlingAPI) -> dict[str, Any]:
    app.load_all_routers()
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key: ws_..."}
    }
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            # Validation errors are 400 `validation_error` here, never FastAPI's 422.
            operation.get("responses", {}).pop("422", None)
            if SCOPE_KEY in operation:
                operation["security"] = [{"bearerAuth": []}]
                operation["description"] = (
                    operation.get("description", "") + f"\n\nRequired scope: `{operation[SCOPE_KEY]}`."
                ).strip()
            elif operation.get("operationId", "").startswith("get_me"):
                operation["security"] = [{"bearerAuth": []}]
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"].get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema
