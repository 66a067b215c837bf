"""Sending throughput of the SMTP session layer (kindling.mail.smtp) vs a bare aiosmtplib loop, same run.

Server: one aiosmtpd on 127.0.0.1 with STARTTLS required and AUTH PLAIN/LOGIN (the mail lab's CA signs its
certificate, so both clients verify it), counting what it accepts. Messages: MESSAGES campaign emails built once
by kindling.sending.compose (multipart text + HTML, tracked links, about 4 KB each), as EmailMessage objects.

- ours: SmtpSender.send_batch for one mailbox: connect, STARTTLS, AUTH once, then MAIL/RCPT/DATA per message,
  classified results; serialising each message (as_bytes) is inside the timing, as send_message does its own.
- bare: one aiosmtplib.SMTP client (connect with STARTTLS, login), `send_message` in a loop, quit
  (send_message copies each message and serialises it with email.policy.default, re-folding every header).

Rounds alternate (bare, ours, bare, ours, ...) so machine noise hits both alike; the medians are reported and
`ratio_ours_to_bare` = ours / bare emails per second (target >= 0.8).
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from devstack.maillab.certs import generate_certs
from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.outcomes import Outcome
from kindling.mail.smtp import Batch, Outgoing, SmtpSender
from kindling.sending.compose import POLICY, OutgoingEmail, Tracking, build_message

MESSAGES = 1_000
ROUNDS = 3
HOST = "127.0.0.1"
USER = "bench@lab.test"
PASSWORD = "bench-password"


class _Counter:
    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.accepted += 1
        return "250 2.0.0 OK"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login.decode() == USER and data.password.decode() == PASSWORD
    return AuthResult(success=ok)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _messages() -> list[EmailMessage]:
    html = "<html><body>" + "".join(
        f'<p>Paragraph {n}: a few words about <a href="https://example.com/page/{n}">our product</a>.</p>'
        for n in range(10)
    )
    built = []
    for n in range(MESSAGES):
        email = OutgoingEmail(
            from_address=USER,
            from_name="Bench Sender",
            to_address=f"prospect{n}@example.com",
            to_name=f"Prospect {n}",
            subject=f"Quick question {n}",
            html=html + "</body></html>",
            text="",
            date=datetime(2026, 6, 10, 9, 0, tzinfo=UTC),
            enrollment_id=f"enr_{n}",
            step=0,
            sending_domain="lab.test",
        )
        built.append(
            build_message(email, Tracking("https://track.lab.test", "bench-secret", "ws_1", f"snd_{n}")).message
        )
    return built


async def _ours(port: int, ca_file: str, messages: list[EmailMessage]) -> float:
    sender = SmtpSender(tls=TlsPolicy(ca_file, allow_private_addresses=True), timeout=30.0)
    endpoint = Endpoint(HOST, port, USER, PASSWORD, "starttls")
    started = time.perf_counter()
    outgoing = [
        Outgoing(f"k{n}", USER, str(m["To"].addresses[0].addr_spec), m.as_bytes(policy=POLICY))
        for n, m in enumerate(messages)
    ]
    report = await sender.send_batch(Batch("mbx_bench", endpoint, outgoing))
    elapsed = time.perf_counter() - started
    if any(r.outcome is not Outcome.SENT for r in report.results) or report.logins != 1:
        raise RuntimeError(f"ours: not every message was sent on one login: {report.results[:3]}")
    return len(messages) / elapsed


async def _bare(port: int, ca_file: str, messages: list[EmailMessage]) -> float:
    context = TlsPolicy(ca_file, allow_private_addresses=True).verifying()
    started = time.perf_counter()
    client = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=True, tls_context=context, timeout=30.0)
    await client.connect()
    await client.login(USER, PASSWORD)
    for message in messages:
        await client.send_message(message)
    await client.quit()
    return len(messages) / (time.perf_counter() - started)


def run() -> dict[str, float]:
    messages = _messages()
    with tempfile.TemporaryDirectory() as tmp:
        certs = generate_certs(Path(tmp))
        handler = _Counter()
        port = _free_port()
        controller = Controller(
            handler,
            hostname=HOST,
            port=port,
            authenticator=_authenticate,
            auth_require_tls=True,
            require_starttls=True,
            tls_context=certs.server_context(),
        )
        controller.start()
        try:
            ca_file = str(certs.ca_path)
            asyncio.run(_bare(port, ca_file, messages[:50]))  # warm both paths (imports, TLS, CA store)
            asyncio.run(_ours(port, ca_file, messages[:50]))
            handler.accepted = 0
            bare, ours = [], []
            for _ in range(ROUNDS):
                bare.append(asyncio.run(_bare(port, ca_file, messages)))
                ours.append(asyncio.run(_ours(port, ca_file, messages)))
            accepted = handler.accepted
        finally:
            controller.stop()
    if accepted != 2 * ROUNDS * MESSAGES:
        raise RuntimeError(f"the server accepted {accepted} messages, expected {2 * ROUNDS * MESSAGES}")
    figures = {
        "messages_per_round": float(MESSAGES),
        "rounds": float(ROUNDS),
        "message_bytes_mean": round(statistics.mean(len(m.as_bytes(policy=POLICY)) for m in messages[:50]), 1),
        "ours_emails_per_second_median": round(statistics.median(ours), 1),
        "bare_emails_per_second_median": round(statistics.median(bare), 1),
        "starttls": 1.0,
    }
    figures["ratio_ours_to_bare"] = round(
        figures["ours_emails_per_second_median"] / figures["bare_emails_per_second_median"], 3
    )
    figures["target_ratio_min"] = 0.8
    return figures
