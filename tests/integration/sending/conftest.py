"""A scriptable aiosmtpd on 127.0.0.1 for the SMTP session layer: AUTH (the mailbox tests' authenticator),
STARTTLS / implicit TLS / plain, and recipients that make the server misbehave in one specific way.

Recipient local parts steer the server:
- `bounce*`       550 5.1.1 to RCPT TO
- `slow*`         451 4.7.1 to RCPT TO (rate limited)
- `spam*`         554 5.7.1 after the content
- `vanish*`       reads the whole message, then drops the connection without answering
- `stall*`        reads the whole message, then never answers
- `flaky*`        drops the connection at RCPT TO the first time it sees that address, accepts it later
- `cut*`          drops the connection at RCPT TO every time
"""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

import kindling.sending.sender as sender_module
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.smtp import Outgoing, SmtpSender
from kindling.platform.clock import ManualClock
from tests.integration.mailboxes.servers import Accounts, CertFactory, Pem, free_port
from tests.integration.sending.world import World, clear_aws_extras, new_workspace, setup_aws_extras

USER = "sender@lab.test"
PASSWORD = "Sup3r-Secret-Pa55word!"
LOCAL = "127.0.0.1"


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message_id(self) -> str:
        return str(email.message_from_bytes(self.content, policy=policy.default)["Message-ID"])


@dataclass
class ScriptedHandler:
    delivered: list[Delivered] = field(default_factory=list)
    received_but_unanswered: list[Delivered] = field(default_factory=list)
    flaky_seen: set[str] = field(default_factory=set)
    ehlos: int = 0
    ehlos_after_starttls: int = 0
    offer_auth: bool = True

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.ehlos += 1
        if session.ssl is not None:
            self.ehlos_after_starttls += 1
        session.host_name = hostname
        if not self.offer_auth:
            return [line for line in responses if not line[4:].upper().startswith("AUTH")]
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local = address.split("@")[0]
        if local.startswith("bounce"):
            return "550 5.1.1 The email account that you tried to reach does not exist"
        if local.startswith("slow"):
            return "451 4.7.1 Too many messages, slow down"
        if local.startswith("cut") or (local.startswith("flaky") and address not in self.flaky_seen):
            self.flaky_seen.add(address)
            return await _drop(server)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        got = Delivered(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(envelope.original_content or b""))
        local = got.rcpt_tos[0].split("@")[0]
        if local.startswith("spam"):
            return "554 5.7.1 Message rejected as spam"
        if local.startswith("vanish"):
            self.received_but_unanswered.append(got)
            return await _drop(server)
        if local.startswith("stall"):
            self.received_but_unanswered.append(got)
            await asyncio.Event().wait()  # never answers; cancelled when the client hangs up
        self.delivered.append(got)
        return "250 2.0.0 OK queued"


async def _drop(server: SMTP) -> str:
    """Close the connection mid-transaction without a reply (connection_lost cancels this handler)."""
    transport = server.transport
    assert isinstance(transport, asyncio.Transport)
    transport.abort()
    await asyncio.Event().wait()
    return "421 unreachable"


Kind = Literal["starttls", "ssl", "plain"]


@dataclass
class SinkServer:
    port: int
    kind: Kind
    handler: ScriptedHandler
    accounts: Accounts
    ca_file: str

    def endpoint(self, password: str = PASSWORD, user: str = USER, tls_pin: str | None = None) -> Endpoint:
        security = {"starttls": "starttls", "ssl": "ssl", "plain": "none"}[self.kind]
        return Endpoint(LOCAL, self.port, user, password, security, tls_pin=tls_pin)  # type: ignore[arg-type]

    def sender(self, timeout: float = 5.0) -> SmtpSender:
        return SmtpSender(tls=TlsPolicy(self.ca_file, allow_private_addresses=True), timeout=timeout)

    @property
    def logins(self) -> int:
        return len(self.accounts.logins)


@contextmanager
def sink_server(
    kind: Kind, pem: Pem | None, ca_file: str, *, auth: bool = True, smtputf8: bool = True
) -> Iterator[SinkServer]:
    handler = ScriptedHandler(offer_auth=auth)
    accounts = Accounts(passwords={USER: PASSWORD, "other@lab.test": PASSWORD})
    port = free_port()
    kwargs: dict[str, Any] = {
        "authenticator": accounts,
        "auth_require_tls": kind == "starttls",
        "enable_SMTPUTF8": smtputf8,
    }
    if kind == "starttls":
        assert pem is not None
        kwargs.update(tls_context=pem.server_context(), require_starttls=True)
    if kind == "ssl":
        assert pem is not None
        kwargs["ssl_context"] = pem.server_context()
    controller = Controller(handler, hostname=LOCAL, port=port, **kwargs)
    controller.start()
    try:
        yield SinkServer(port, kind, handler, accounts, ca_file)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def sending_certs(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("sending-certs"))


@pytest.fixture
def starttls_server(sending_certs: CertFactory) -> Iterator[SinkServer]:
    with sink_server("starttls", sending_certs.leaf("sending-good"), str(sending_certs.ca_file)) as server:
        yield server


def outgoing(key: str, to: str, subject: str = "Hello") -> Outgoing:
    raw = (
        f"From: {USER}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{key}@lab.test>\r\n\r\n"
        f"Body of {key}.\r\n.leading dot stays\r\n"
    ).encode()
    return Outgoing(key, USER, to, raw)


@pytest.fixture
def plain_server() -> Iterator[SinkServer]:
    with sink_server("plain", None, "") as server:
        yield server


@pytest.fixture
def world(aws: None, clock: ManualClock, plain_server: SinkServer) -> Iterator[World]:
    """The sending engine in-process (scheduler, queue, sender) over moto, sending to `plain_server`."""
    env = setup_aws_extras()
    try:
        yield World(new_workspace(), clock, plain_server)
    finally:
        sender_module.fault_hook = None
        clear_aws_extras(env)
