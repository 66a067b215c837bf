"""`python -m devstack` boots the whole stack, serves the API with the seeded key, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devstack.runtime import LocalStack, free_port

REPO = Path(__file__).resolve().parents[2]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"python -m devstack exited early with {proc.returncode}")
        if path.is_file():
            return dict(json.loads(path.read_text()))
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout}s")


def test_make_dev_boots_serves_and_stops_cleanly(tmp_path: Path) -> None:
    api_port, moto_port = free_port(), free_port()
    env = {
        **os.environ,
        "KINDLING_DEV_API_PORT": str(api_port),
        "KINDLING_DEV_MOTO_PORT": str(moto_port),
        "KINDLING_DEV_STATE_DIR": str(tmp_path / "state"),
        "PYTHONUNBUFFERED": "1",
    }
    log = (tmp_path / "devstack.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        info = _wait_for(tmp_path / "state" / "dev.json", proc, timeout=60)
        ready = time.monotonic() - started
        # How fast it boots is a figure for a benchmark, not a pass/fail here (a loaded CI machine is slower).
        print(f"devstack ready in {ready:.2f}s")
        assert info["api_url"] == f"http://127.0.0.1:{api_port}"
        assert info["aws_endpoint_url"] == f"http://127.0.0.1:{moto_port}"
        assert str(info["workspace_id"]).startswith("ws_")
        assert info["mail_accounts"]
        # The LinkedIn provider emulator runs beside it, holding the demo workspace's connected account.
        linkedin = info["linkedin_provider"]
        assert isinstance(linkedin, dict)
        provider_port = int(str(linkedin["api_url"]).split(":")[2].split("/")[0])
        with httpx.Client(base_url=str(linkedin["api_url"]), trust_env=False, timeout=10) as provider:
            demo = provider.get(f"/accounts/{linkedin['demo_account_id']}", headers={"X-API-KEY": linkedin["api_key"]})
            assert demo.status_code == 200, demo.text
            assert demo.json()["sources"][0]["status"] == "OK"
        with httpx.Client(base_url=str(info["api_url"]), trust_env=False, timeout=10) as client:
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {info['api_key']}"})
            assert me.status_code == 200, me.text
            assert info["workspace_id"] in me.text
            assert client.get("/api/v1/me").status_code == 401
            assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
            assert client.get("/docs").status_code == 200
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        log.close()
    output = (tmp_path / "devstack.log").read_text(errors="replace")
    assert code == 0, output
    assert "Kindling local stack is up" in output
    assert not (tmp_path / "state" / "dev.json").exists()
    assert not _listening(api_port)
    assert not _listening(moto_port)
    assert not _listening(provider_port)


def test_in_process_stack_serves_the_seeded_key(local_stack: LocalStack) -> None:
    with httpx.Client(base_url=local_stack.api_url, trust_env=False, timeout=10) as client:
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {local_stack.api_key}"})
    assert response.status_code == 200, response.text
    assert local_stack.workspace_id in response.text


@pytest.mark.mail
def test_mail_lab_accounts_are_reachable(local_stack: LocalStack) -> None:
    assert local_stack.mail_accounts
    for account in local_stack.mail_accounts:
        assert _listening(int(account["smtp_port"]))
        assert _listening(int(account["imap_port"]))
