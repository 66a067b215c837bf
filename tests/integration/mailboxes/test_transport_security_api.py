"""Mail transport security over HTTP: the address guard on mailbox hosts, the `tls` field (trust on first use of a
self-signed certificate, pinned per endpoint), and remote servers' words cut to one clean line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kindling.platform.settings import reset_settings
from tests.conftest import Tenant
from tests.integration.mailboxes.conftest import PASSWORD, USER, MailServers, Stack
from tests.integration.mailboxes.servers import BannerServer, CountingListener, Pem, smtp_server
from tests.integration.mailboxes.test_mailboxes_api import create, get

pytestmark = pytest.mark.mail


@pytest.fixture
def deployed_addresses(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """allow_private_targets off, as every deployed stage has it."""
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "false")
    reset_settings()
    yield
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "true")
    reset_settings()


# --- the address guard ----------------------------------------------------------------------------------------
PRIVATE_HOSTS = ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "localhost", "100.64.0.1"]


@pytest.mark.usefixtures("deployed_addresses")
def test_private_mailbox_hosts_are_refused_without_a_connection(stack: Stack, tenant: Tenant) -> None:
    with CountingListener() as listener:
        for host in PRIVATE_HOSTS:
            body = {
                "email_address": USER,
                "smtp_password": PASSWORD,
                "smtp_host": host,
                "smtp_port": listener.port,
                "imap_host": host,
                "imap_port": listener.port,
            }
            response = stack.client.post("/api/v1/mailboxes/test", json=body, headers=tenant.headers)
            assert response.status_code == 400, (host, response.text)
            error = response.json()["error"]
            assert error["code"] == "validation_error", host
            assert [(d["field"], d["code"]) for d in error["details"]] == [
                ("smtp_host", "private_address"),
                ("imap_host", "private_address"),
            ], host
        # Saving such a mailbox is refused the same way, and nothing is saved.
        created = create(stack.client, tenant, {**body, "smtp_host": "127.0.0.1", "imap_host": "127.0.0.1"})
        assert created.status_code == 400 and created.json()["error"]["code"] == "validation_error"
        assert stack.client.get("/api/v1/mailboxes", headers=tenant.headers).json()["data"] == []
    assert listener.connections == 0
    assert stack.pending() == []  # no check was queued either


@pytest.mark.usefixtures("deployed_addresses")
def test_a_saved_mailbox_whose_host_turned_private_is_not_dialled_by_the_checker(
    stack: Stack, tenant: Tenant, mail_servers: MailServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saved while private targets were allowed (the local stack), then checked where they are not.
    monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "true")
    reset_settings()
    with CountingListener() as listener:
        body = mail_servers.body(smtp_port=listener.port, imap_port=listener.port)
        created = create(stack.client, tenant, body).json()["data"]
        monkeypatch.setenv("KINDLING_ALLOW_PRIVATE_TARGETS", "false")
        reset_settings()
        stack.drain()
        retest = stack.client.post(f"/api/v1/mailboxes/{created['id']}/test", headers=tenant.headers)
    assert listener.connections == 0
    assert retest.status_code == 200, retest.text
    result = retest.json()["data"]["test_result"]
    assert (result["smtp_error"]["code"], result["imap_error"]["code"]) == ("private_address", "private_address")
    mailbox = get(stack.client, tenant, created["id"])
    assert mailbox["status"] == "error" and mailbox["last_test_error"].startswith("private_address (SMTP)")


def test_with_private_targets_allowed_the_local_lab_works(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    response = stack.client.post("/api/v1/mailboxes/test", json=mail_servers.body(), headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"smtp_ok": True, "imap_ok": True}  # CA-signed lab certificates: no `tls`


# --- trust on first use ---------------------------------------------------------------------------------------
def test_a_self_signed_certificate_is_reported_pinned_kept_and_replaced_only_by_a_retest(
    stack: Stack, tenant: Tenant, mail_servers: MailServers
) -> None:
    first = mail_servers.certs.leaf("api-first", self_signed=True)
    other = mail_servers.certs.leaf("api-other", self_signed=True)
    accounts = mail_servers.accounts

    def tls_of(mailbox_id: str) -> Any:
        return get(stack.client, tenant, mailbox_id)["tls"]

    with smtp_server("starttls", accounts, first) as port:
        body = mail_servers.body(smtp_port=port)
        tested = stack.client.post("/api/v1/mailboxes/test", json=body, headers=tenant.headers)
        assert tested.status_code == 200, tested.text
        data = tested.json()["data"]
        assert (data["smtp_ok"], data["imap_ok"]) == (True, True)
        assert data["tls"] == {"smtp": {"self_signed": True, "fingerprint": first.fingerprint}}
        assert [w["code"] for w in data["warnings"]] == ["self_signed_certificate"]

        created = create(stack.client, tenant, body).json()["data"]
        assert created["tls"] is None  # nothing trusted before the check ran
        stack.drain()
        mailbox = get(stack.client, tenant, created["id"])
        assert mailbox["status"] == "connected", mailbox["last_test_error"]
        assert mailbox["tls"] == {"smtp": {"self_signed": True, "fingerprint": first.fingerprint}, "imap": None}
        assert mailbox["health_reasons"] == ["self_signed_certificate"]

        # An unrelated PATCH keeps the pin.
        patched = stack.client.patch(
            f"/api/v1/mailboxes/{created['id']}", json={"display_name": "Jordan"}, headers=tenant.headers
        )
        assert patched.status_code == 200 and patched.json()["data"]["tls"] == mailbox["tls"]

    # The same host and port now serve another self-signed certificate.
    with smtp_server("starttls", accounts, other, port=port):
        # A background check (here: after a password PATCH) refuses it before AUTH.
        logins = len(accounts.logins)
        stack.client.patch(
            f"/api/v1/mailboxes/{created['id']}", json={"smtp_password": PASSWORD}, headers=tenant.headers
        )
        stack.drain()
        mailbox = get(stack.client, tenant, created["id"])
        assert mailbox["status"] == "disconnected"  # it worked before: an outage, not a mailbox that never worked
        assert mailbox["last_test_error"].startswith("tls_certificate_changed (SMTP): ")
        assert "re-test" in mailbox["last_test_error"]
        assert mailbox["tls"]["smtp"]["fingerprint"] == first.fingerprint  # the pin stands
        assert accounts.logins[logins:] == []  # no AUTH: the impostor never saw the password

        # The user's re-test accepts the new certificate and says it changed.
        retest = stack.client.post(f"/api/v1/mailboxes/{created['id']}/test", headers=tenant.headers)
        assert retest.status_code == 200, retest.text
        result = retest.json()["data"]["test_result"]
        assert result["tls"] == {
            "smtp": {
                "self_signed": True,
                "fingerprint": other.fingerprint,
                "changed": True,
                "previous_fingerprint": first.fingerprint,
            }
        }
        assert [w["code"] for w in result["warnings"]] == ["self_signed_certificate", "tls_certificate_changed"]
        assert retest.json()["data"]["mailbox"]["status"] == "connected"
        assert tls_of(created["id"])["smtp"]["fingerprint"] == other.fingerprint

    # A new host (or port) starts over: the pin is dropped, never carried to another server.
    moved = stack.client.patch(
        f"/api/v1/mailboxes/{created['id']}", json={"smtp_port": mail_servers.starttls_port}, headers=tenant.headers
    )
    assert moved.status_code == 200 and moved.json()["data"]["tls"] is None
    stack.drain()
    mailbox = get(stack.client, tenant, created["id"])
    assert mailbox["status"] == "connected" and mailbox["tls"] is None


def test_the_pin_is_stored_per_endpoint(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    pem: Pem = mail_servers.certs.leaf("api-ssl-only", self_signed=True)
    with smtp_server("ssl", mail_servers.accounts, pem) as port:
        created = create(stack.client, tenant, mail_servers.body(smtp_port=port, smtp_security="ssl")).json()["data"]
        stack.drain()
    mailbox = get(stack.client, tenant, created["id"])
    assert mailbox["tls"] == {"smtp": {"self_signed": True, "fingerprint": pem.fingerprint}, "imap": None}


# --- remote words -----------------------------------------------------------------------------------------------
NASTY = (
    b"554-evil\x1b[2J\x1b[31m banner\x07 with\x00 controls \xe2\x80\xae reversed " + b"A" * 3000 + b"\r\n"
    b"554 second line: SSH-2.0-OpenSSH_9.6 internal.corp 10.1.2.3\r\n"
)


def test_a_remote_banner_is_one_sanitised_capped_line(stack: Stack, tenant: Tenant, mail_servers: MailServers) -> None:
    with (
        BannerServer(NASTY) as smtp_side,
        BannerServer(b"* BYE \x1b[31mgo away\x00\x07" + b"B" * 3000 + b"\r\n") as imap_side,
    ):
        body = mail_servers.body(
            smtp_port=smtp_side.port, smtp_security="none", imap_port=imap_side.port, imap_security="none"
        )
        response = stack.client.post("/api/v1/mailboxes/test", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        created = create(stack.client, tenant, body).json()["data"]
        stack.drain()
    details = [data["smtp_error"]["detail"], data["imap_error"]["detail"]]
    assert details[0].startswith("554 evil") and "go away" in details[1]
    last_error = get(stack.client, tenant, created["id"])["last_test_error"]
    for text in [*details, last_error]:
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in text), text
        assert "second line" not in text and "10.1.2.3" not in text
    assert all(len(d) <= 200 for d in details)
    assert len(last_error) <= 1000
    assert "\\n" not in json.dumps(data) and "\\u001b" not in json.dumps(data)
