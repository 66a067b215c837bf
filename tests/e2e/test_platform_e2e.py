"""The API platform over real HTTP against the local stack: the admin CLI, auth, scopes, rate limit,
idempotency, pagination and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalStack


@pytest.fixture(scope="module")
def dev_json(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    state_dir = tmp_path_factory.mktemp("cli-state")
    local_stack.write_dev_json(state_dir / "dev.json")
    return state_dir


def kindling(state_dir: Path, *args: str) -> dict[str, Any]:
    """Run the real admin CLI in a separate process against the running stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KINDLING_"))}
    env["KINDLING_DEV_STATE_DIR"] = str(state_dir)
    done = subprocess.run(
        [sys.executable, "-m", "kindling.cli", "admin", "--local", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture
def api(local_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.api_url, timeout=30) as client:
        yield client


def new_key(state_dir: Path, scopes: str = "all") -> tuple[str, dict[str, str]]:
    workspace = kindling(state_dir, "create-workspace", "--name", "E2E workspace")["workspace_id"]
    token = kindling(state_dir, "create-key", "--workspace", workspace, "--name", "e2e", "--scopes", scopes)["api_key"]
    return workspace, {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    return body


def mailbox_body(n: int) -> dict[str, Any]:
    email = f"pager{n}@lab-mail.test"
    return {
        "email_address": email,
        "smtp_host": "127.0.0.1",
        "smtp_port": 2525,
        "smtp_security": "none",
        "smtp_password": "not-checked-here",
        "imap_host": "127.0.0.1",
        "imap_port": 2143,
        "imap_security": "none",
        "imap_password": "not-checked-here",
    }


def test_cli_keys_authenticate_with_exact_scopes_and_revoke(api: httpx.Client, dev_json: Path) -> None:
    workspace, headers = new_key(dev_json, scopes="mailboxes:read,jobs:read")
    me = api.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["workspace"] == {"id": workspace}
    assert me.json()["apiKey"]["scopes"] == ["mailboxes:read", "jobs:read"]
    assert api.get("/api/v1/mailboxes", headers=headers).status_code == 200
    error_of(api.post("/api/v1/mailboxes", headers=headers, json=mailbox_body(0)), 403, "insufficient_scope")

    listed = kindling(dev_json, "list-keys", "--workspace", workspace)["keys"]
    assert [k["key_id"] for k in listed] == [me.json()["apiKey"]["id"]]
    assert headers["Authorization"].removeprefix("Bearer ") not in json.dumps(listed)  # shown once, never again
    kindling(dev_json, "revoke-key", "--workspace", workspace, "--key-id", listed[0]["key_id"])
    error_of(api.get("/api/v1/me", headers=headers), 401, "unauthorized")


def test_cli_rejects_unknown_scopes_with_a_stable_code(dev_json: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KINDLING_"))}
    env["KINDLING_DEV_STATE_DIR"] = str(dev_json)
    workspace = kindling(dev_json, "create-workspace", "--name", "Scopes")["workspace_id"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kindling.cli",
            "admin",
            "--local",
            "create-key",
            "--workspace",
            workspace,
            "--scopes",
            "root",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert json.loads(done.stderr)["error"]["code"] == "validation_error"


def test_unauthenticated_requests(api: httpx.Client) -> None:
    error_of(api.get("/api/v1/me"), 401, "unauthorized")
    error_of(api.get("/api/v1/me", headers={"Authorization": "Bearer ws_" + "z" * 40}), 401, "unauthorized")


def test_rate_limit_holds_at_60_per_minute_per_workspace(api: httpx.Client, dev_json: Path) -> None:
    _, headers = new_key(dev_json)
    _, other_headers = new_key(dev_json)
    admitted: dict[str, int] = {}
    refused: httpx.Response | None = None
    for _ in range(200):  # bounded: at most a few windows' worth
        response = api.get("/api/v1/me", headers=headers)
        window = response.headers["x-ratelimit-reset"]
        assert response.headers["x-ratelimit-limit"] == "60"
        if response.status_code == 429:
            refused = response
            break
        assert response.status_code == 200
        admitted[window] = admitted.get(window, 0) + 1
        assert int(response.headers["x-ratelimit-remaining"]) == 60 - admitted[window]
    assert refused is not None
    # The refusal comes after exactly 60 admissions in its window (a window that rolled over mid-loop restarts).
    assert admitted[refused.headers["x-ratelimit-reset"]] == 60
    error_of(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert api.get("/api/v1/me", headers=other_headers).status_code == 200  # other workspaces are unaffected


def test_idempotent_create_over_http(api: httpx.Client, dev_json: Path) -> None:
    _, headers = new_key(dev_json)
    keyed = {**headers, "Idempotency-Key": "e2e-create-1"}
    first = api.post("/api/v1/mailboxes", headers=keyed, json=mailbox_body(100))
    assert first.status_code == 201, first.text
    assert first.json()["meta"]["idempotency_key"] == "e2e-create-1"
    again = api.post("/api/v1/mailboxes", headers=keyed, json=mailbox_body(100))
    assert again.status_code == 201
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert again.headers["idempotent-replayed"] == "true"
    error_of(api.post("/api/v1/mailboxes", headers=keyed, json=mailbox_body(101)), 409, "idempotency_conflict")
    listed = api.get("/api/v1/mailboxes", headers=headers).json()["data"]
    assert [m["email_address"] for m in listed] == ["pager100@lab-mail.test"]


def test_cursor_pagination_over_http(api: httpx.Client, dev_json: Path) -> None:
    _, headers = new_key(dev_json)
    created = [
        api.post("/api/v1/mailboxes", headers=headers, json=mailbox_body(n)).json()["data"]["id"] for n in range(5)
    ]
    seen: list[str] = []
    pages: list[tuple[int, bool]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = api.get("/api/v1/mailboxes", headers=headers, params=params).json()
        seen += [m["id"] for m in body["data"]]
        pages.append((len(body["data"]), body["pagination"]["has_more"]))
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert pages == [(2, True), (2, True), (1, False)]
    assert seen == list(reversed(created))  # newest first, each once
    body = error_of(api.get("/api/v1/mailboxes", headers=headers, params={"cursor": "bogus"}), 400, "validation_error")
    assert body["error"]["details"][0]["field"] == "cursor"
    error_of(api.get("/api/v1/mailboxes", headers=headers, params={"limit": 101}), 400, "validation_error")


def test_errors_keep_one_shape(api: httpx.Client, dev_json: Path) -> None:
    _, headers = new_key(dev_json)
    error_of(api.get("/api/v1/nothing-here", headers=headers), 404, "not_found")
    error_of(api.get("/api/v1/mailboxes/00000000-0000-4000-8000-000000000000", headers=headers), 404, "not_found")
    error_of(
        api.post("/api/v1/mailboxes", headers={**headers, "Content-Type": "application/json"}, content=b"{oops"),
        400,
        "validation_error",
    )
    body = error_of(
        api.post("/api/v1/mailboxes", headers=headers, json={"email_address": "nope", "smtp_port": 70000}),
        400,
        "validation_error",
    )
    fields = {d["field"] for d in body["error"]["details"]}
    assert {"email_address", "smtp_port"} <= fields


def test_openapi_and_docs_are_served(api: httpx.Client) -> None:
    spec = api.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.1")
    assert "/api/v1/me" in spec.json()["paths"]
    assert api.get("/docs").status_code == 200
