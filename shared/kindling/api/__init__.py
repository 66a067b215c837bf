"""The HTTP layer: FastAPI app, envelope, errors, auth/rate-limit middleware, idempotent routes."""
