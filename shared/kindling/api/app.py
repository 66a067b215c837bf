"""The FastAPI application: routers, middleware, error handlers and the published OpenAPI 3.1 document."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from kindling.api.errors import install_error_handlers
from kindling.api.middleware import PlatformMiddleware
from kindling.api.routes import ROUTER_MODULES
from kindling.api.routing import SCOPE_KEY

API_VERSION = "1.0.0"
DESCRIPTION = (
    "Kindling's public REST API, compatible with the WarmySender API v1. Authenticate with "
    "`Authorization: Bearer ws_...`. Responses are wrapped as `{data, pagination, meta}`; errors as "
    "`{error: {code, message, details}, meta}`. 60 requests per minute per workspace."
)


def create_app(*, swagger_assets: Path | None = None) -> FastAPI:
    """Build the API. `swagger_assets` serves Swagger UI from a local folder (the offline local stack)."""
    app = FastAPI(
        title="Kindling API",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None if swagger_assets else "/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(PlatformMiddleware)
    for module_name in ROUTER_MODULES:
        app.include_router(importlib.import_module(module_name).router)
    if swagger_assets is not None:
        _serve_local_swagger(app, swagger_assets)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _serve_local_swagger(app: FastAPI, assets: Path) -> None:
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


def _openapi(app: FastAPI) -> dict[str, Any]:
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
