"""Prospects, suppressions and a CSV import over HTTP on the full local stack (the real job state machine)."""

from __future__ import annotations

import time
from typing import Any

import requests

from devstack.runtime import LocalStack


def _wait_import(stack: LocalStack, import_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        data: dict[str, Any] = requests.get(
            f"{stack.api_url}/api/v1/imports/{import_id}", headers=headers, timeout=10
        ).json()["data"]
        if data["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def test_import_flow_end_to_end(local_stack: LocalStack) -> None:
    # No environment patching: the stack gives the in-process API ApiFunction's own settings (job machine ARN).
    headers = {"Authorization": f"Bearer {local_stack.api_key}"}
    base = f"{local_stack.api_url}/api/v1"
    suppressed = requests.post(
        f"{base}/suppressions", json={"type": "domain", "value": "e2e-rival.io"}, headers=headers, timeout=10
    )
    assert suppressed.status_code == 201, suppressed.text
    lines = ["Email,First Name,Company Name,custom:Source"]
    lines += [f"e2e{n}@e2e-acme.com,P{n},Acme,fair" for n in range(1100)]
    lines += ["boss@e2e-rival.io,Boss,Rival,fair", "E2E0@E2E-ACME.COM,Dup,Acme,fair", "broken,X,Y,Z"]
    csv = ("\n".join(lines) + "\n").encode()
    uploaded = requests.post(
        f"{base}/imports",
        headers={**headers, "Idempotency-Key": "e2e-import-1"},
        files={"file": ("e2e.csv", csv, "text/csv")},
        data={"listName": "E2E list"},
        timeout=60,
    )
    assert uploaded.status_code == 201, uploaded.text
    import_id = uploaded.json()["data"]["id"]
    preview = requests.get(f"{base}/imports/{import_id}/mapping-preview", headers=headers, timeout=10).json()["data"]
    assert preview["suggestedMapping"]["Email"] == "email"
    confirmed = requests.post(f"{base}/imports/{import_id}/mapping-confirm", headers=headers, json={}, timeout=30)
    assert confirmed.status_code == 202, confirmed.text

    result = _wait_import(local_stack, import_id, headers)
    assert result["status"] == "completed", result
    assert (result["created"], result["suppressed"], result["duplicate"], result["invalid"]) == (1100, 1, 1, 1)
    assert [e["row"] for e in result["errors"]] == [1103]

    deadline = time.monotonic() + 60
    while True:  # the import finishes inside the batch task; the job's Complete state follows it
        job = requests.get(f"{base}/jobs/{result['jobId']}", headers=headers, timeout=10).json()["data"]
        if job["status"] != "processing" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["status"] == "completed" and job["type"] == "prospect_import"
    found = requests.get(f"{base}/prospects", params={"email": "e2e7@e2e-acme.com"}, headers=headers, timeout=10)
    prospect = found.json()["data"][0]
    assert prospect["customFields"] == {"source": "fair"} and prospect["firstName"] == "P7"
    lists = requests.get(f"{base}/lists", headers=headers, timeout=10).json()["data"]
    assert [x["prospectCount"] for x in lists if x["id"] == result["listId"]] == [1100]

    body = {"emails": ["e2e7@e2e-acme.com"], "reason": "manual opt-out"}
    counts = requests.post(f"{base}/prospects/suppress", json=body, headers=headers, timeout=10).json()["data"]
    assert counts == {"suppressedCount": 1, "alreadySuppressedCount": 0, "notFoundCount": 0, "totalProcessed": 1}
    check = requests.get(
        f"{base}/suppressions/check", params={"email": "e2e7@e2e-acme.com"}, headers=headers, timeout=10
    ).json()["data"]
    assert check["blocked"] is True and check["reason"] == "email"
