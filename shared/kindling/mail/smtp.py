"""The SMTP session layer: send batches of prepared messages, one reused connection per mailbox per batch.

Per mailbox: connect (implicit TLS, STARTTLS or plain, with the address check, TLS verification and certificate
pinning of kindling.mail.connection: a self-signed certificate is accepted only when it is the one pinned at
test time, checked before EHLO/AUTH; nothing falls back to an unverified connection), EHLO and AUTH once, then
MAIL / RCPT / DATA per message, RSET after a refused message, QUIT at the end. Every message gets a classified
result (kindling.mail.outcomes):

- a refusal (hard bounce, rejected content, soft 4xx) resets the envelope and the batch goes on;
- a rate limit stops the batch: the remaining messages come back `rate_limited`, unattempted;
- a connection lost BEFORE DATA is retried once on a fresh connection (one reconnect per batch);
- a connection lost or timed out once DATA has started makes that message `unknown`, and it is never sent
  again: the provider may have accepted it. aiosmtplib's data() does not say whether the 354 had arrived, so a
  drop while waiting for it is treated the same way (a lost 354 is rare; a duplicate cold email is worse).
  The rest of the batch continues on a fresh connection if the reconnect is still unused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiosmtplib

from kindling.mail.connection import (
    DEFAULT_STEP_TIMEOUT,
    CertificateChanged,
    Endpoint,
    PeerTrust,
    TlsPolicy,
    dial,
    sanitize_detail,
    smtp_client,
    smtp_peer_certificate,
)
from kindling.mail.connection import classify_exception as classify_connection_error
from kindling.mail.outcomes import Classified, Outcome, Stage, classify_exception, classify_reply
from kindling.platform.addresses import AddressRefused

MAX_DETAIL = 300
# Only these mean "the transport failed"; anything else is a bug and propagates.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError)


@dataclass(frozen=True)
class Outgoing:
    """One prepared message: `key` is the caller's id for it (the send ledger id)."""

    key: str
    sender: str
    recipient: str
    data: bytes


# Called right before a message's MAIL FROM: False leaves it unsent (`skipped`). The sender claims each message
# here, one at a time, so a crash mid-batch leaves only the message in flight ambiguous, never the ones after it.
BeforeSend = Callable[[Outgoing], Awaitable[bool]]


@dataclass(frozen=True)
class Batch:
    mailbox_id: str
    endpoint: Endpoint
    messages: Sequence[Outgoing]


@dataclass(frozen=True)
class SendResult:
    key: str
    outcome: Outcome
    stage: Stage | None = None  # None: never attempted (the batch stopped first)
    code: int | None = None
    enhanced: str | None = None
    detail: str = ""

    @property
    def attempted(self) -> bool:
        return self.stage is not None


@dataclass
class BatchReport:
    """Per-message results in input order, plus what the circuit breakers need (kindling.sending.circuit)."""

    mailbox_id: str
    results: list[SendResult] = field(default_factory=list)
    connected: bool = False  # the last connection attempt reached a working session (host reachable)
    authenticated: bool | None = None  # the last login: True, False (refused), None (never got that far)
    connections: int = 0
    logins: int = 0
    self_signed: bool = False  # the server's certificate was the self-signed one pinned at test time
    refused: str | None = None  # the trust rules refused the server: `tls_certificate_changed`, `private_address`

    def by_key(self) -> dict[str, SendResult]:
        return {result.key: result for result in self.results}


class _OpenFailed(Exception):
    def __init__(
        self, classified: Classified, *, connected: bool, authenticated: bool | None, refused: str | None = None
    ) -> None:
        super().__init__(classified.detail)
        self.classified = classified
        self.connected = connected
        self.authenticated = authenticated
        self.refused = refused


def _scrub(text: str, secret: str) -> str:
    return sanitize_detail(text, (secret,), MAX_DETAIL)


def _refused(code: str, detail: str) -> _OpenFailed:
    """A connection the trust rules refused before any credential was sent (`<code>: <detail>`; the code's
    hint is kindling.mail.connection.HINTS[code])."""
    text = f"{code}: {detail}"
    return _OpenFailed(
        Classified(Outcome.CONNECTION_FAILED, Stage.CONNECT, detail=text),
        connected=False,
        authenticated=None,
        refused=code,
    )


class SmtpSender:
    def __init__(
        self,
        *,
        tls: TlsPolicy | None = None,
        timeout: float = DEFAULT_STEP_TIMEOUT,
        local_hostname: str = "kindling.local",
    ) -> None:
        self.tls = tls or TlsPolicy()
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._verifying: ssl.SSLContext | None = None

    def _verifying_context(self) -> ssl.SSLContext:
        # Loading the CA store costs milliseconds; one context serves every connection of this sender.
        if self._verifying is None:
            self._verifying = self.tls.verifying()
        return self._verifying

    # -- entry points ---------------------------------------------------------------------------------------
    async def send_batches(
        self, batches: Sequence[Batch], concurrency: int = 8, before_send: BeforeSend | None = None
    ) -> list[BatchReport]:
        """Each mailbox's batch over its own connection, up to `concurrency` mailboxes at a time."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(batch: Batch) -> BatchReport:
            async with gate:
                return await self.send_batch(batch, before_send)

        return list(await asyncio.gather(*(one(batch) for batch in batches)))

    async def send_batch(self, batch: Batch, before_send: BeforeSend | None = None) -> BatchReport:
        report = BatchReport(batch.mailbox_id)
        results: dict[int, SendResult] = {}
        pending = list(range(len(batch.messages)))
        ep = batch.endpoint
        client: aiosmtplib.SMTP | None = None
        reconnects_left = 1
        cleared: set[int] = set()  # messages the caller's gate let through (asked once, even across a reconnect)

        def leave_the_rest(classified: Classified) -> None:
            """Every pending message gets `classified`'s outcome, unattempted (stage None): safe to send later."""
            for index in pending:
                results[index] = SendResult(
                    batch.messages[index].key,
                    classified.outcome,
                    None,
                    classified.code,
                    classified.enhanced,
                    _scrub(classified.detail, ep.password),
                )
            pending.clear()

        try:
            while pending:
                if client is None:
                    try:
                        client = await self._open(ep, report)
                    except _OpenFailed as failed:
                        report.connected = failed.connected
                        report.authenticated = failed.authenticated
                        report.refused = failed.refused
                        leave_the_rest(failed.classified)
                        break
                index = pending[0]
                item = batch.messages[index]
                if before_send is not None and index not in cleared:
                    if not await before_send(item):
                        results[index] = SendResult(item.key, Outcome.SKIPPED, None, detail="refused by the gate")
                        pending.pop(0)
                        continue
                    cleared.add(index)
                classified, alive = await self._transact(client, item)
                if classified.outcome is Outcome.CONNECTION_FAILED and reconnects_left > 0:
                    # Dropped before DATA: nothing was accepted, so this message may go again on a new connection.
                    reconnects_left -= 1
                    client = None
                    continue
                results[index] = SendResult(
                    item.key,
                    classified.outcome,
                    classified.stage,
                    classified.code,
                    classified.enhanced,
                    _scrub(classified.detail, ep.password),
                )
                pending.pop(0)
                if classified.outcome in (Outcome.RATE_LIMITED, Outcome.AUTH_FAILED):
                    # The provider wants us to stop (or the session lost its login): leave the rest for later.
                    leave_the_rest(
                        Classified(classified.outcome, classified.stage, detail="not attempted: " + classified.detail)
                    )
                    break
                if classified.outcome is Outcome.CONNECTION_FAILED:
                    leave_the_rest(
                        Classified(Outcome.CONNECTION_FAILED, Stage.CONNECT, detail="not attempted: connection lost")
                    )
                    break
                if not alive:
                    client.close()
                    if reconnects_left == 0:
                        leave_the_rest(
                            Classified(
                                Outcome.CONNECTION_FAILED, Stage.CONNECT, detail="not attempted: connection lost"
                            )
                        )
                        break
                    reconnects_left -= 1
                    client = None
        finally:
            if client is not None:
                await self._quit(client)
        report.results = [results[i] for i in range(len(batch.messages))]
        return report

    # -- one connection ---------------------------------------------------------------------------------------
    async def _open(self, ep: Endpoint, report: BatchReport) -> aiosmtplib.SMTP:
        """Check the address, connect, secure and log in: a pinned endpoint must present its pinned certificate
        (or, failing that, a CA-signed one); any other endpoint a CA-signed one."""
        try:
            addresses = await asyncio.to_thread(self.tls.addresses_of, ep.host, ep.port)
        except AddressRefused as exc:
            code = "private_address" if exc.code == "private_address" else "dns_not_found"
            raise _refused(code, exc.message) from exc
        pin = ep.pin
        if pin is None:
            return await self._open_with(ep, self._verifying_context(), addresses, PeerTrust(), report)
        try:
            client = await self._open_with(ep, TlsPolicy.unverified(), addresses, PeerTrust(pin), report)
        except _OpenFailed as failed:
            changed = failed.__cause__
            if not isinstance(changed, CertificateChanged):
                raise
        else:
            report.self_signed = True
            return client
        try:
            return await self._open_with(ep, self._verifying_context(), addresses, PeerTrust(), report)
        except _OpenFailed as failed:
            cause = failed.__cause__
            if cause is not None and classify_connection_error(cause) == "self_signed_certificate":
                raise _refused("tls_certificate_changed", str(changed)) from changed
            raise

    async def _open_with(
        self, ep: Endpoint, ctx: ssl.SSLContext, addresses: tuple[str, ...], trust: PeerTrust, report: BatchReport
    ) -> aiosmtplib.SMTP:
        report.connections += 1
        report.connected = False
        report.authenticated = None
        try:
            sock = await dial(addresses, ep.port, self.timeout)
        except TRANSPORT_ERRORS as exc:
            raise _OpenFailed(classify_exception(exc, Stage.CONNECT), connected=False, authenticated=None) from exc
        client = smtp_client(ep, sock, ctx, self.timeout, self.local_hostname)
        try:
            await client.connect()
            if ep.security == "ssl":
                trust.check(smtp_peer_certificate(client))
            await client.ehlo()
            if ep.security == "starttls":
                await client.starttls(tls_context=ctx)
                trust.check(smtp_peer_certificate(client))  # before EHLO and AUTH go over the new channel
                await client.ehlo()
        except CertificateChanged as exc:
            client.close()  # the client owns the socket from connect() on (its transport closes it)
            raise _refused("tls_certificate_changed", str(exc)) from exc
        except TRANSPORT_ERRORS as exc:
            client.close()
            raise _OpenFailed(classify_exception(exc, Stage.CONNECT), connected=False, authenticated=None) from exc
        report.connected = True
        try:
            # One mechanism, one try (as the connection test does): aiosmtplib's login() would retry a refused
            # password with every other mechanism, doubling the failures a provider counts toward a lockout.
            methods = client.server_auth_methods
            if "plain" not in methods and "login" not in methods:
                offered = " ".join(methods) or "none"
                raise _OpenFailed(
                    Classified(
                        Outcome.AUTH_FAILED, Stage.AUTH, detail=f"no PLAIN or LOGIN mechanism (offered: {offered})"
                    ),
                    connected=True,
                    authenticated=False,
                )
            report.logins += 1
            if "plain" in methods:
                await client.auth_plain(ep.username, ep.password)
            else:
                await client.auth_login(ep.username, ep.password)
        except TRANSPORT_ERRORS as exc:
            client.close()
            classified = classify_exception(exc, Stage.AUTH)
            refused = isinstance(exc, aiosmtplib.SMTPResponseException)
            raise _OpenFailed(classified, connected=True, authenticated=False if refused else None) from exc
        except _OpenFailed:
            client.close()
            raise
        report.authenticated = True
        return client

    async def _transact(self, client: aiosmtplib.SMTP, item: Outgoing) -> tuple[Classified, bool]:
        """MAIL, RCPT, DATA for one message: (its classification, whether the connection is still usable)."""
        stage = Stage.MAIL
        options = [f"SIZE={len(item.data)}"] if client.supports_extension("size") else []
        encoding = "ascii"
        if not (item.sender.isascii() and item.recipient.isascii()):
            # An internationalised address needs SMTPUTF8; without it the message cannot go through this server.
            if not client.supports_extension("smtputf8"):
                detail = "the address needs SMTPUTF8, which this server does not offer"
                return Classified(Outcome.REJECTED, Stage.MAIL, detail=detail), True
            options.append("SMTPUTF8")
            encoding = "utf-8"
        try:
            await client.mail(item.sender, options=options, encoding=encoding)
            stage = Stage.RCPT
            await client.rcpt(item.recipient, encoding=encoding)
            stage = Stage.DATA
            response = await client.data(item.data)
        except aiosmtplib.SMTPResponseException as exc:
            classified = classify_exception(exc, stage)
            alive = exc.code != 421 and await self._reset(client)
            return classified, alive
        except TRANSPORT_ERRORS as exc:
            client.close()
            return classify_exception(exc, stage), False
        return Classified(classify_reply(Stage.DATA, response.code, response.message), Stage.DATA, response.code), True

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> bool:
        """RSET after a refused message; False when the connection did not survive it."""
        if not client.is_connected:
            return False
        try:
            await client.rset()
        except TRANSPORT_ERRORS:
            client.close()
            return False
        return True

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(*TRANSPORT_ERRORS):
            if client.is_connected:
                await client.quit()
        client.close()
