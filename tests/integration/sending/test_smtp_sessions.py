"""The SMTP session layer against a real aiosmtpd on 127.0.0.1 (AUTH over STARTTLS, implicit TLS, plain)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

import pytest

from kindling.mail.connection import Endpoint, TlsPolicy
from kindling.mail.outcomes import Outcome, Stage
from kindling.mail.smtp import Batch, BatchReport, Outgoing, SmtpSender
from kindling.sending.circuit import AuthGuard, HostCircuit, observe_auth, observe_host
from kindling.sending.compose import OutgoingEmail, Tracking, build_message
from tests.integration.mailboxes.servers import CertFactory, closed_port
from tests.integration.sending.conftest import LOCAL, PASSWORD, USER, SinkServer, outgoing, sink_server

pytestmark = pytest.mark.mail


def send(
    server: SinkServer, messages: list[Outgoing], *, password: str = PASSWORD, timeout: float = 5.0
) -> BatchReport:
    return asyncio.run(server.sender(timeout).send_batch(Batch("mbx_1", server.endpoint(password), messages)))


def outcomes(report: BatchReport) -> list[Outcome]:
    return [r.outcome for r in report.results]


def test_one_connection_and_one_login_for_a_batch(starttls_server: SinkServer) -> None:
    messages = [outgoing(f"m{n}", f"prospect{n}@example.com") for n in range(5)]
    report = send(starttls_server, messages)
    assert outcomes(report) == [Outcome.SENT] * 5
    assert [r.key for r in report.results] == ["m0", "m1", "m2", "m3", "m4"]
    assert (report.connections, report.logins, starttls_server.logins) == (1, 1, 1)
    assert report.connected and report.authenticated and not report.self_signed
    delivered = starttls_server.handler.delivered
    assert [d.rcpt_tos for d in delivered] == [[f"prospect{n}@example.com"] for n in range(5)]
    assert {d.mail_from for d in delivered} == {USER}
    assert [d.message_id for d in delivered] == [f"<m{n}@lab.test>" for n in range(5)]
    assert b"\r\n.leading dot stays\r\n" in delivered[0].content  # dot-stuffing round trip


def test_a_hard_bounce_does_not_stop_the_others(starttls_server: SinkServer) -> None:
    report = send(
        starttls_server,
        [outgoing("a", "one@example.com"), outgoing("b", "bounce@example.com"), outgoing("c", "two@example.com")],
    )
    assert outcomes(report) == [Outcome.SENT, Outcome.HARD_BOUNCE, Outcome.SENT]
    bounce = report.results[1]
    assert (bounce.stage, bounce.code, bounce.enhanced) == (Stage.RCPT, 550, "5.1.1")
    assert "does not exist" in bounce.detail
    assert [d.message_id for d in starttls_server.handler.delivered] == ["<a@lab.test>", "<c@lab.test>"]
    assert starttls_server.logins == 1  # RSET, not a new session


def test_rejected_content_is_not_a_bounce_and_the_batch_goes_on(starttls_server: SinkServer) -> None:
    report = send(starttls_server, [outgoing("a", "spam@example.com"), outgoing("b", "fine@example.com")])
    assert outcomes(report) == [Outcome.REJECTED, Outcome.SENT]
    assert (report.results[0].stage, report.results[0].code) == (Stage.DATA, 554)


def test_internationalised_addresses_go_out_with_smtputf8(starttls_server: SinkServer) -> None:
    report = send(starttls_server, [outgoing("a", "jörg@exämple.com"), outgoing("b", "one@example.com")])
    assert outcomes(report) == [Outcome.SENT, Outcome.SENT]
    assert [d.rcpt_tos for d in starttls_server.handler.delivered] == [["jörg@exämple.com"], ["one@example.com"]]


def test_without_smtputf8_an_internationalised_address_is_refused_unsent(sending_certs: CertFactory) -> None:
    with sink_server(
        "starttls", sending_certs.leaf("sending-ascii"), str(sending_certs.ca_file), smtputf8=False
    ) as srv:
        report = send(srv, [outgoing("a", "jörg@exämple.com"), outgoing("b", "one@example.com")])
        assert outcomes(report) == [Outcome.REJECTED, Outcome.SENT]
        assert "SMTPUTF8" in report.results[0].detail
        assert [d.message_id for d in srv.handler.delivered] == ["<b@lab.test>"]


def test_a_rate_limit_stops_the_batch(starttls_server: SinkServer) -> None:
    report = send(
        starttls_server,
        [outgoing("a", "one@example.com"), outgoing("b", "slow@example.com"), outgoing("c", "two@example.com")],
    )
    assert outcomes(report) == [Outcome.SENT, Outcome.RATE_LIMITED, Outcome.RATE_LIMITED]
    limited, untried = report.results[1], report.results[2]
    assert (limited.stage, limited.code, limited.enhanced) == (Stage.RCPT, 451, "4.7.1")
    assert limited.attempted and not untried.attempted
    assert [d.message_id for d in starttls_server.handler.delivered] == ["<a@lab.test>"]


def test_a_refused_login_fails_every_message_unsent(starttls_server: SinkServer) -> None:
    report = send(
        starttls_server, [outgoing("a", "one@example.com"), outgoing("b", "two@example.com")], password="nope"
    )
    assert outcomes(report) == [Outcome.AUTH_FAILED, Outcome.AUTH_FAILED]
    assert not any(r.attempted for r in report.results)
    assert report.connected and report.authenticated is False
    assert "5.7.8" in report.results[0].detail and "nope" not in report.results[0].detail
    assert starttls_server.handler.delivered == []
    # What the circuit breakers make of it: the host is fine, the mailbox's count goes up.
    assert observe_host(HostCircuit(), connected=report.connected, now=datetime.now(UTC)) == HostCircuit()
    assert observe_auth(AuthGuard(), authenticated=report.authenticated).consecutive_failures == 1


def test_a_connection_dropped_after_data_is_unknown_and_never_resent(starttls_server: SinkServer) -> None:
    report = send(
        starttls_server,
        [outgoing("a", "one@example.com"), outgoing("b", "vanish@example.com"), outgoing("c", "two@example.com")],
    )
    assert outcomes(report) == [Outcome.SENT, Outcome.UNKNOWN, Outcome.SENT]
    assert report.results[1].stage is Stage.DATA and not report.results[1].outcome.retryable
    handler = starttls_server.handler
    # The server did read the message once; the sender never offered it again.
    assert [d.message_id for d in handler.received_but_unanswered] == ["<b@lab.test>"]
    assert [d.message_id for d in handler.delivered] == ["<a@lab.test>", "<c@lab.test>"]
    # The rest of the batch went out on the one allowed reconnect.
    assert (report.connections, report.logins, starttls_server.logins) == (2, 2, 2)


def test_a_silent_server_after_data_is_unknown_too(starttls_server: SinkServer) -> None:
    report = send(starttls_server, [outgoing("a", "stall@example.com"), outgoing("b", "one@example.com")], timeout=1.0)
    assert outcomes(report) == [Outcome.UNKNOWN, Outcome.SENT]
    assert [d.message_id for d in starttls_server.handler.received_but_unanswered] == ["<a@lab.test>"]
    assert [d.message_id for d in starttls_server.handler.delivered] == ["<b@lab.test>"]


def test_a_drop_before_data_is_retried_once_on_a_new_connection(starttls_server: SinkServer) -> None:
    report = send(
        starttls_server,
        [outgoing("a", "one@example.com"), outgoing("b", "flaky@example.com"), outgoing("c", "two@example.com")],
    )
    assert outcomes(report) == [Outcome.SENT] * 3
    assert [d.message_id for d in starttls_server.handler.delivered] == ["<a@lab.test>", "<b@lab.test>", "<c@lab.test>"]
    assert report.connections == 2 and starttls_server.logins == 2


def test_only_one_reconnect_per_batch(starttls_server: SinkServer) -> None:
    report = send(
        starttls_server,
        [outgoing("a", "cut@example.com"), outgoing("b", "one@example.com"), outgoing("c", "two@example.com")],
    )
    assert outcomes(report) == [Outcome.CONNECTION_FAILED] * 3
    assert report.results[0].stage is Stage.RCPT
    assert not report.results[1].attempted and not report.results[2].attempted
    assert all(r.outcome.retryable for r in report.results)
    assert report.connections == 2
    assert starttls_server.handler.delivered == []


def test_nothing_listening_is_a_connection_failure() -> None:
    port = closed_port()
    sender = SmtpSender(tls=TlsPolicy(allow_private_addresses=True), timeout=2.0)
    report = asyncio.run(
        sender.send_batch(Batch("mbx_1", Endpoint(LOCAL, port, USER, PASSWORD, "starttls"), [outgoing("a", "x@y.z")]))
    )
    assert outcomes(report) == [Outcome.CONNECTION_FAILED]
    assert not report.results[0].attempted
    assert not report.connected and report.authenticated is None
    assert observe_host(HostCircuit(), connected=report.connected, now=datetime.now(UTC)).consecutive_failures == 1
    assert observe_auth(AuthGuard(3), authenticated=report.authenticated) == AuthGuard(3)


@pytest.mark.parametrize("kind", ["ssl", "plain"])
def test_implicit_tls_and_plain_sessions(sending_certs: CertFactory, kind: str) -> None:
    pem = sending_certs.leaf(f"sending-{kind}") if kind == "ssl" else None
    with sink_server(kind, pem, str(sending_certs.ca_file)) as server:  # type: ignore[arg-type]
        report = send(server, [outgoing("a", "one@example.com"), outgoing("b", "two@example.com")])
        assert outcomes(report) == [Outcome.SENT, Outcome.SENT]
        assert server.logins == 1 and len(server.handler.delivered) == 2


def test_a_server_without_auth_is_an_auth_failure(sending_certs: CertFactory) -> None:
    with sink_server("plain", None, str(sending_certs.ca_file), auth=False) as server:
        report = send(server, [outgoing("a", "one@example.com")])
        assert outcomes(report) == [Outcome.AUTH_FAILED]
        assert "no PLAIN or LOGIN" in report.results[0].detail
        assert report.connected and report.authenticated is False and report.logins == 0
        assert server.handler.delivered == []


def send_pinned(server: SinkServer, pin: str | None, messages: list[Outgoing]) -> BatchReport:
    return asyncio.run(server.sender().send_batch(Batch("mbx_1", server.endpoint(tls_pin=pin), messages)))


@pytest.mark.parametrize("kind", ["starttls", "ssl"])
def test_a_self_signed_certificate_is_sent_to_only_when_it_is_the_pinned_one(
    sending_certs: CertFactory, kind: Literal["starttls", "ssl"]
) -> None:
    pem = sending_certs.leaf(f"sending-self-signed-{kind}", self_signed=True)
    with sink_server(kind, pem, str(sending_certs.ca_file)) as server:
        # No pin (never tested, or tested before pinning existed): no fallback to an unverified session.
        report = send_pinned(server, None, [outgoing("a", "one@example.com")])
        assert outcomes(report) == [Outcome.CONNECTION_FAILED]
        assert (server.logins, server.handler.delivered) == (0, [])
        # The certificate pinned at test time: one connection, logged in, sent.
        report = send_pinned(server, pem.fingerprint, [outgoing("b", "one@example.com"), outgoing("c", "flaky@x.io")])
        assert outcomes(report) == [Outcome.SENT, Outcome.SENT]
        assert report.self_signed and report.connections == 2  # the session, and one reconnect (flaky)
        assert server.logins == 2


@pytest.mark.parametrize("kind", ["starttls", "ssl"])
def test_another_self_signed_certificate_is_refused_before_ehlo_and_auth(
    sending_certs: CertFactory, kind: Literal["starttls", "ssl"]
) -> None:
    pinned = sending_certs.leaf(f"sending-pinned-{kind}", self_signed=True)
    impostor = sending_certs.leaf(f"sending-impostor-{kind}", self_signed=True)
    with sink_server(kind, impostor, str(sending_certs.ca_file)) as server:
        report = send_pinned(server, pinned.fingerprint, [outgoing("a", "one@example.com")])
        assert outcomes(report) == [Outcome.CONNECTION_FAILED]
        assert report.results[0].detail.startswith("tls_certificate_changed: ")
        assert impostor.fingerprint in report.results[0].detail
        assert not report.connected and report.authenticated is None and report.logins == 0
        # On the server side: no AUTH (no password), and no command at all over the new TLS channel.
        assert server.logins == 0 and server.handler.ehlos_after_starttls == 0
        assert server.handler.delivered == []


def test_a_pinned_host_that_moved_to_a_ca_signed_certificate_is_verified(starttls_server: SinkServer) -> None:
    report = send_pinned(starttls_server, "sha256:" + "cd" * 32, [outgoing("a", "one@example.com")])
    assert outcomes(report) == [Outcome.SENT]
    assert not report.self_signed and report.connections == 2  # the pin did not match; the CA-signed one verified


def test_an_untrusted_certificate_is_refused(sending_certs: CertFactory) -> None:
    pem = sending_certs.leaf("sending-wrong-host", hosts=("mail.elsewhere.test",))
    with sink_server("starttls", pem, str(sending_certs.ca_file)) as server:
        report = send(server, [outgoing("a", "one@example.com")])
        assert outcomes(report) == [Outcome.CONNECTION_FAILED]
        assert not report.connected and server.handler.delivered == []
        assert server.logins == 0 and server.handler.ehlos_after_starttls == 0


def test_private_addresses_are_not_dialled_unless_allowed(sending_certs: CertFactory) -> None:
    with sink_server("starttls", sending_certs.leaf("sending-guard"), str(sending_certs.ca_file)) as server:
        strict = SmtpSender(tls=TlsPolicy(str(sending_certs.ca_file)), timeout=5.0)  # the default: not allowed
        report = asyncio.run(strict.send_batch(Batch("mbx_1", server.endpoint(), [outgoing("a", "one@example.com")])))
        assert outcomes(report) == [Outcome.CONNECTION_FAILED]
        assert report.results[0].detail.startswith("private_address: ")
        assert report.connections == 0 and server.handler.ehlos == 0


def test_batches_for_several_mailboxes_run_side_by_side(sending_certs: CertFactory) -> None:
    with sink_server("starttls", sending_certs.leaf("sending-multi"), str(sending_certs.ca_file)) as server:
        sender = server.sender()
        batches = [
            Batch("mbx_1", server.endpoint(), [outgoing(f"1-{n}", f"p{n}@example.com") for n in range(4)]),
            Batch(
                "mbx_2",
                server.endpoint(user="other@lab.test"),
                [outgoing(f"2-{n}", f"q{n}@example.com") for n in range(4)],
            ),
            Batch("mbx_3", server.endpoint(password="wrong"), [outgoing("3-0", "r@example.com")]),
        ]
        reports = asyncio.run(sender.send_batches(batches, concurrency=2))
        assert [r.mailbox_id for r in reports] == ["mbx_1", "mbx_2", "mbx_3"]
        assert outcomes(reports[0]) == outcomes(reports[1]) == [Outcome.SENT] * 4
        assert outcomes(reports[2]) == [Outcome.AUTH_FAILED]
        assert sorted(server.accounts.logins) == sorted([USER, "other@lab.test", USER])
        assert len(server.handler.delivered) == 8


def test_a_built_message_goes_through_unchanged(starttls_server: SinkServer) -> None:
    built = build_message(
        OutgoingEmail(
            from_address=USER,
            from_name="Sénder Naïve",
            to_address="pat@example.com",
            subject="Quick question",
            html='<p>Hi <a href="https://example.com">there</a></p>',
            text="",
            date=datetime(2026, 6, 10, 9, 0, tzinfo=UTC),
            enrollment_id="enr_1",
            step=0,
            sending_domain="lab.test",
        ),
        Tracking("https://track.lab.test", "secret", "ws_1", "snd_1"),
    )
    raw = built.as_bytes()
    report = send(starttls_server, [Outgoing("snd_1", built.envelope_from, built.recipient, raw)])
    assert outcomes(report) == [Outcome.SENT]
    (delivered,) = starttls_server.handler.delivered
    assert delivered.message_id == built.message_id
    assert delivered.content.rstrip(b"\r\n") == raw.rstrip(b"\r\n")
