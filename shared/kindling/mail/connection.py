"""Real SMTP + IMAP connection tests and the classification of their failures into stable codes.

SMTP (aiosmtplib): connect (implicit TLS, STARTTLS or plain), EHLO, AUTH PLAIN/LOGIN, QUIT. Never MAIL/DATA.
IMAP (imaplib, in a worker thread): connect (implicit TLS, STARTTLS or plain), LOGIN, LIST (folder
discovery by SPECIAL-USE flags or names), SELECT INBOX, LOGOUT. Every step has its own timeout.

Addresses: each host is resolved once and every address checked by the platform's address rules
(kindling.platform.addresses: no private, loopback, link-local/metadata, CGNAT... unless `allow_private_targets`);
the connection dials the checked address while TLS verifies the host *name* (SNI and certificate).

Certificates (docs/decisions.md, "Mail transport security"): a CA-signed certificate is always verified, host
name included. A self-signed certificate (OpenSSL verify codes 18/19) is trusted on first use: the connection
test accepts it with a warning, as the help center says, and reports its SHA-256 fingerprint, which the mailbox
stores as the endpoint's pin. Every later connection (`Endpoint.tls_pin`) accepts exactly that certificate: the
DER is hashed after the handshake and compared with the pin before anything else is sent after it (EHLO after
STARTTLS, AUTH, LOGIN); another certificate is `tls_certificate_changed` and no credential is sent. Every other
verification failure is `certificate_invalid`; nothing ever falls back to an unverified connection.

Passwords never appear in a result, and servers' words are cut to one clean line: every text that leaves this
module goes through `sanitize_detail`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import imaplib
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiosmtplib

from kindling.mail.providers import provider_from_host
from kindling.platform.addresses import AddressRefused, Resolver, resolve_checked
from kindling.platform.settings import Settings, get_settings

Security = Literal["ssl", "starttls", "none"]
Protocol_ = Literal["smtp", "imap"]

DEFAULT_STEP_TIMEOUT = 10.0
SELF_SIGNED_VERIFY_CODES = frozenset({18, 19})  # DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN

# code -> the human hint shown with it (stable codes; the hint text may evolve).
HINTS: dict[str, str] = {
    "auth_failed": (
        "The server rejected the username or password. Use the full email address as the username and check "
        "the password."
    ),
    "app_password_required": (
        "The provider requires an App Password (Google, Microsoft, Yahoo: a 16-character App Password from the "
        "account's security settings) instead of the regular password, or a web sign-in first."
    ),
    "smtp_auth_disabled": (
        "SMTP authentication is disabled for this account or organisation (Microsoft 365: enable Authenticated "
        "SMTP for the mailbox). This is not a password problem."
    ),
    "imap_disabled": "IMAP access is disabled for this account; enable IMAP in the mailbox settings.",
    "connection_refused": (
        "Nothing accepted the connection on this host and port. Check the host and port (SMTP 587 STARTTLS or "
        "465 SSL; IMAP 993 SSL or 143 STARTTLS) and any firewall."
    ),
    "dns_not_found": "The host name could not be resolved. Check the spelling of the server host name.",
    "tls_wrong_version": (
        "The port and the security mode do not match: ports 465 and 993 use SSL (implicit TLS), ports 587 and "
        "143 use STARTTLS."
    ),
    "starttls_unsupported": (
        "The server does not offer STARTTLS on this port. Use the SSL port (465 for SMTP, 993 for IMAP) instead."
    ),
    "certificate_invalid": (
        "The server's TLS certificate is not valid for this host (expired, untrusted chain or host name "
        "mismatch). Use the host name the certificate was issued for."
    ),
    "self_signed_certificate": (
        "The server uses a self-signed certificate. The connection works, but such certificates may cause "
        "intermittent issues. This exact certificate is now trusted for this mailbox (see `tls.fingerprint`); "
        "any other certificate will be refused."
    ),
    "tls_certificate_changed": (
        "The server's certificate changed since you tested this mailbox; re-test it to accept the new "
        "certificate if you trust it."
    ),
    "private_address": (
        "The host resolves to a private, loopback, link-local or otherwise internal address, which mailboxes may "
        "not connect to. Use the mail server's public host name."
    ),
    "mailbox_not_found": (
        "The server is reachable but does not know this mailbox. Check the username format (the full address), "
        "aliases, and whether the account is disabled."
    ),
    "timeout": "The server did not answer in time. Check the host, the port and any firewall.",
    "tls_error": "The TLS handshake failed. Check the port and the security mode.",
    "server_disconnected": "The server closed the connection unexpectedly. Check the port and the security mode.",
    "protocol_error": "The server answered with something unexpected for this protocol. Check the port.",
    "unknown_error": "The connection test failed for an unexpected reason.",
}


@dataclass(frozen=True)
class Endpoint:
    """Where and how to log in; `password` is the plaintext secret (never logged, never returned)."""

    host: str
    port: int
    username: str
    password: str
    security: Security
    tls_pin: str | None = None  # "sha256:<hex>" of the self-signed certificate trusted at test time

    @property
    def pin(self) -> str | None:
        """The pin this connection honours: none without TLS, and none on a big provider's host (their
        certificates are CA-signed, so a self-signed one there is never trusted, pinned or not)."""
        if self.tls_pin is None or self.security == "none" or not may_trust_on_first_use(self.host):
            return None
        return self.tls_pin

    def __repr__(self) -> str:
        return f"Endpoint(host={self.host!r}, port={self.port}, username={self.username!r}, security={self.security})"


@dataclass(frozen=True)
class TestIssue:
    """A classified failure or warning: stable `code`, human `message`, and the server's own words."""

    code: str
    message: str
    detail: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class TlsInfo:
    """What the connection trusted: a verified certificate, or the pinned self-signed one (`fingerprint`).

    `previous_fingerprint`: a re-test replaced a different pin (the certificate changed and was accepted).
    """

    self_signed: bool
    fingerprint: str | None = None
    previous_fingerprint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"self_signed": self.self_signed}
        if self.fingerprint:
            out["fingerprint"] = self.fingerprint
        if self.previous_fingerprint:
            out["changed"] = True
            out["previous_fingerprint"] = self.previous_fingerprint
        return out

    @property
    def pin(self) -> str | None:
        """What the mailbox stores for this endpoint after a successful test."""
        return self.fingerprint if self.self_signed else None


@dataclass
class ProbeResult:
    ok: bool
    error: TestIssue | None = None
    warnings: list[TestIssue] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)
    tls: TlsInfo | None = None  # None: no TLS (security `none`) or no handshake reached


@dataclass(frozen=True)
class ConnectionTestResult:
    smtp: ProbeResult
    imap: ProbeResult

    @property
    def ok(self) -> bool:
        return self.smtp.ok and self.imap.ok

    @property
    def first_error(self) -> tuple[Protocol_, TestIssue] | None:
        if self.smtp.error is not None:
            return "smtp", self.smtp.error
        if self.imap.error is not None:
            return "imap", self.imap.error
        return None

    @property
    def warnings(self) -> list[TestIssue]:
        seen: dict[str, TestIssue] = {}
        for warning in [*self.smtp.warnings, *self.imap.warnings]:
            seen.setdefault(warning.code, warning)
        return list(seen.values())


def issue(code: str, detail: str | None = None) -> TestIssue:
    return TestIssue(code=code, message=HINTS.get(code, HINTS["unknown_error"]), detail=detail)


def default_security(port: int, protocol: Protocol_) -> Security:
    """465/993 mean implicit TLS; everything else STARTTLS. Plain text only when asked for explicitly."""
    return "ssl" if port in (465, 993) else "starttls"


# --- classification -------------------------------------------------------------------------------------

_WRONG_VERSION_REASONS = {
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "UNKNOWN_PROTOCOL",
    "HTTP_REQUEST",
    "UNSUPPORTED_PROTOCOL",
    "TLSV1_ALERT_PROTOCOL_VERSION",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_reply(text: str, protocol: Protocol_, code: int | None = None) -> str:
    """A server's refusal of a login, by its enhanced status code or wording (SMTP and IMAP)."""
    lowered = text.lower()
    if (
        "5.7.139" in text
        or "smtpclientauthentication is disabled" in lowered
        or ("smtp auth" in lowered and ("disabled" in lowered))
    ):
        return "smtp_auth_disabled"
    if protocol == "imap" and ("imap access is disabled" in lowered or "imap is disabled" in lowered):
        return "imap_disabled"
    if (
        "5.7.9" in text
        or "5.7.14" in text
        or code == 534
        or "application-specific password" in lowered
        or "app password" in lowered
        or "web browser" in lowered
        or "[webalert" in lowered
    ):
        return "app_password_required"
    if (
        "5.1.1" in text
        or "5.1.0" in text
        or "[nonexistent]" in lowered
        or "mailbox not found" in lowered
        or "mailbox doesn't exist" in lowered
        or "no such mailbox" in lowered
        or "user unknown" in lowered
        or "no such user" in lowered
        or "unknown user" in lowered
    ):
        return "mailbox_not_found"
    return "auth_failed"


def classify_exception(exc: BaseException) -> str:
    """Map a raised error (and its causes) to a stable code."""
    for err in _chain(exc):
        if isinstance(err, CertificateChanged):
            return "tls_certificate_changed"
        if isinstance(err, AddressRefused):
            return "private_address" if err.code == "private_address" else "dns_not_found"
        if isinstance(err, ssl.SSLCertVerificationError):
            return "self_signed_certificate" if err.verify_code in SELF_SIGNED_VERIFY_CODES else "certificate_invalid"
        if isinstance(err, ssl.SSLError):
            if (err.reason or "").upper() in _WRONG_VERSION_REASONS or "wrong version number" in str(err).lower():
                return "tls_wrong_version"
            return "tls_error"
        if isinstance(err, socket.gaierror):
            return "dns_not_found"
        if isinstance(err, ConnectionRefusedError):
            return "connection_refused"
        if isinstance(err, aiosmtplib.SMTPTimeoutError | TimeoutError | socket.timeout):
            return "timeout"
        if isinstance(err, aiosmtplib.SMTPAuthenticationError):
            return classify_reply(err.message, "smtp", err.code)
        if isinstance(err, aiosmtplib.SMTPException) and "starttls extension not supported" in str(err).lower():
            return "starttls_unsupported"
        if isinstance(err, imaplib.IMAP4.error) and "starttls extension not supported" in str(err).lower():
            return "starttls_unsupported"
    for err in _chain(exc):
        if isinstance(err, aiosmtplib.SMTPServerDisconnected | ConnectionResetError | EOFError | imaplib.IMAP4.abort):
            return "server_disconnected"
        if isinstance(err, aiosmtplib.SMTPResponseException | imaplib.IMAP4.error):
            return "protocol_error"
    return "unknown_error"


MAX_DETAIL = 200
# C0/C1 controls, zero-width and bidirectional formatting characters: nothing a log line or a UI should render.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")


def sanitize_detail(text: str, secrets: Sequence[str] = (), limit: int = MAX_DETAIL) -> str:
    """A remote server's words as one clean line: secrets masked, first non-empty line only, control and
    formatting characters removed, whitespace collapsed, at most `limit` characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    lines = [line for line in re.split(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+", text) if line.strip()]
    line = " ".join(_UNPRINTABLE.sub(" ", lines[0] if lines else "").split())
    if len(line) > limit:
        line = line[: limit - 1] + "\u2026"
    return line


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    return sanitize_detail(text, secrets)


def error_text(exc: BaseException) -> str:
    """The words of an error: a server reply as `<code> <text>` (not the exception's tuple repr, which would
    fold a multi-line reply into one escaped line)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    if isinstance(exc, imaplib.IMAP4.error):
        return _imap_text(exc)
    return str(exc)


# --- trust: certificates and addresses --------------------------------------------------------------------


def may_trust_on_first_use(host: str) -> bool:
    """Whether a self-signed certificate from `host` may be pinned at all. The big providers' hosts (Google,
    Microsoft, Yahoo, Zoho) always present CA-signed certificates: a self-signed one there is someone in the middle,
    so it is refused even at first use and no password goes to it."""
    return provider_from_host(host) is None


def certificate_fingerprint(der: bytes) -> str:
    """The pin of a certificate: "sha256:" + the lowercase hex SHA-256 of its DER encoding."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


class CertificateChanged(Exception):
    """The server presented another certificate than the pinned one; nothing was sent after the handshake."""

    def __init__(self, expected: str, seen: str | None) -> None:
        super().__init__(f"the server presented {seen or 'no certificate'} instead of the pinned {expected}")
        self.expected = expected
        self.seen = seen


@dataclass
class PeerTrust:
    """The after-handshake check of one connection: with `expected` (a pin), the certificate's DER must hash
    to it; `seen` records the fingerprint of what the server presented."""

    expected: str | None = None
    seen: str | None = None

    def check(self, der: bytes | None) -> None:
        self.seen = certificate_fingerprint(der) if der else None
        if self.expected is not None and self.seen != self.expected:
            raise CertificateChanged(self.expected, self.seen)


def smtp_peer_certificate(client: aiosmtplib.SMTP) -> bytes | None:
    ssl_object = client.get_transport_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der if isinstance(der, bytes) else None


def socket_peer_certificate(sock: object) -> bytes | None:
    if not isinstance(sock, ssl.SSLSocket):
        return None
    return sock.getpeercert(binary_form=True)


async def dial(addresses: Sequence[str], port: int, timeout: float) -> socket.socket:
    """A connected (non-blocking) TCP socket to the first checked address that answers (in resolver order), for
    aiosmtplib's `sock=`; the last failure is raised when none does."""
    last: BaseException = OSError("no address to connect to")
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (address, port)), timeout)
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise last


def connect_blocking(addresses: Sequence[str], port: int, timeout: float | None) -> socket.socket:
    """As `dial`, blocking (imaplib)."""
    last: BaseException = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            last = exc
    raise last


def smtp_client(
    ep: Endpoint, sock: socket.socket, ctx: ssl.SSLContext, timeout: float, local_hostname: str
) -> aiosmtplib.SMTP:
    """An aiosmtplib client on a socket already connected to the checked address; TLS (implicit or STARTTLS)
    uses the host name for SNI and the certificate check."""
    return aiosmtplib.SMTP(
        hostname=ep.host,
        sock=sock,
        local_hostname=local_hostname,
        timeout=timeout,
        use_tls=ep.security == "ssl",
        start_tls=False,
        tls_context=ctx,
    )


class GuardedIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 dialling the checked `addresses` while speaking to `host` (SNI, certificate, STARTTLS);
    `implicit_tls` makes it an IMAPS client (as IMAP4_SSL does)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: Sequence[str],
        timeout: float | None,
        implicit_tls: ssl.SSLContext | None,
    ) -> None:
        # Set before super().__init__, which connects, reads the greeting and sends CAPABILITY.
        self._addresses = tuple(addresses)
        self._implicit_tls = implicit_tls
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = connect_blocking(self._addresses, self.port, timeout)
        if self._implicit_tls is None:
            return sock
        try:
            return self._implicit_tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def peer_certificate(self) -> bytes | None:
        return socket_peer_certificate(self.sock)


# --- the tester ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsPolicy:
    """Which servers to trust: certificates from the system store plus an optional extra CA bundle (the local
    mail lab's), and which addresses may be dialled (`allow_private_addresses`: only the local stack and tests).
    `resolver` replaces the system resolver (tests)."""

    extra_ca_file: str | None = None
    allow_private_addresses: bool = False
    resolver: Resolver | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TlsPolicy:
        settings = settings or get_settings()
        return cls(extra_ca_file=settings.mail_ca_file, allow_private_addresses=settings.allow_private_targets)

    def addresses_of(self, host: str, port: int) -> tuple[str, ...]:
        """The checked addresses to dial for `host`, in resolver order (raises `AddressRefused`)."""
        return resolve_checked(host, port, allow_private=self.allow_private_addresses, resolver=self.resolver)

    def verifying(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.extra_ca_file:
            ctx.load_verify_locations(cafile=self.extra_ca_file)
        return ctx

    @staticmethod
    def unverified() -> ssl.SSLContext:
        """No chain check: only ever used with a `PeerTrust` check of the certificate right after the handshake
        (a pin, or the first use whose fingerprint becomes the pin)."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx


class _Failed(Exception):
    def __init__(self, found: TestIssue) -> None:
        super().__init__(found.code)
        self.issue = found


ProbeRun = Callable[[Endpoint, ssl.SSLContext, tuple[str, ...], PeerTrust], Awaitable[ProbeResult]]


class ConnectionTester:
    def __init__(
        self,
        *,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
        tls: TlsPolicy | None = None,
        local_hostname: str = "kindling.local",
    ) -> None:
        self.step_timeout = step_timeout
        self.tls = tls or TlsPolicy()
        self.local_hostname = local_hostname

    # -- entry points ---------------------------------------------------------------------------------------
    async def test(self, smtp: Endpoint, imap: Endpoint, *, repin: bool = False) -> ConnectionTestResult:
        """`repin`: a pinned endpoint whose self-signed certificate changed is tested with the new certificate
        (first use again, reported as changed) instead of failing `tls_certificate_changed`."""
        smtp_result, imap_result = await asyncio.gather(
            self.test_smtp(smtp, repin=repin), self.test_imap(imap, repin=repin)
        )
        return ConnectionTestResult(smtp=smtp_result, imap=imap_result)

    def run(self, smtp: Endpoint, imap: Endpoint, *, repin: bool = False) -> ConnectionTestResult:
        """Synchronous entry point (API worker threads, the checker Lambda)."""
        return asyncio.run(self.test(smtp, imap, repin=repin))

    async def test_smtp(self, endpoint: Endpoint, *, repin: bool = False) -> ProbeResult:
        return await self._probe(endpoint, self._smtp_once, repin=repin)

    async def test_imap(self, endpoint: Endpoint, *, repin: bool = False) -> ProbeResult:
        async def once(ep: Endpoint, ctx: ssl.SSLContext, addresses: tuple[str, ...], trust: PeerTrust) -> ProbeResult:
            return await asyncio.to_thread(self._imap_once, ep, ctx, addresses, trust)

        return await self._probe(endpoint, once, repin=repin)

    # -- shared flow ----------------------------------------------------------------------------------------
    async def _probe(self, endpoint: Endpoint, run: ProbeRun, *, repin: bool) -> ProbeResult:
        """Address check, then: the pinned certificate, else a verified one, else (self-signed) first use."""
        secrets = (endpoint.password,)

        def failed(exc: BaseException, **extra: Any) -> ProbeResult:
            return ProbeResult(
                ok=False, error=issue(classify_exception(exc), _scrub(error_text(exc), secrets) or None), **extra
            )

        try:
            addresses = await asyncio.to_thread(self.tls.addresses_of, endpoint.host, endpoint.port)
        except AddressRefused as exc:
            return failed(exc)
        pin = endpoint.pin
        changed: CertificateChanged | None = None
        if pin is not None:
            try:
                result = await run(endpoint, TlsPolicy.unverified(), addresses, PeerTrust(expected=pin))
            except CertificateChanged as exc:
                changed = exc  # perhaps a CA-signed certificate now: verified below, else refused or re-pinned
            except _Failed as fail:
                return ProbeResult(ok=False, error=fail.issue, tls=TlsInfo(self_signed=True, fingerprint=pin))
            except Exception as exc:
                return failed(exc)
            else:
                result.warnings.insert(0, issue("self_signed_certificate"))
                result.tls = TlsInfo(self_signed=True, fingerprint=pin)
                return result
        try:
            result = await run(endpoint, self.tls.verifying(), addresses, PeerTrust())
        except _Failed as fail:
            return ProbeResult(ok=False, error=fail.issue)
        except Exception as exc:
            code = classify_exception(exc)
            if code != "self_signed_certificate":
                if code == "timeout" and endpoint.security != "ssl" and await self._speaks_tls(endpoint, addresses):
                    code = "tls_wrong_version"
                return ProbeResult(ok=False, error=issue(code, _scrub(error_text(exc), secrets) or None))
        else:
            if endpoint.security != "none":
                result.tls = TlsInfo(self_signed=False)
            return result
        if changed is not None and not repin:
            return ProbeResult(
                ok=False,
                error=issue("tls_certificate_changed", f"new certificate {changed.seen}; pinned {pin}"),
                tls=TlsInfo(self_signed=True, fingerprint=pin),
            )
        if not may_trust_on_first_use(endpoint.host):
            detail = f"self-signed certificate from {endpoint.host}, whose provider only uses CA-signed certificates"
            return ProbeResult(ok=False, error=issue("certificate_invalid", detail))
        # A self-signed certificate, first use (or a re-pin): accepted, and its fingerprint becomes the pin.
        warnings = [issue("self_signed_certificate")]
        if changed is not None:
            warnings.append(issue("tls_certificate_changed", f"new certificate {changed.seen}; replaced {pin}"))
        trust = PeerTrust()
        try:
            result = await run(endpoint, TlsPolicy.unverified(), addresses, trust)
        except _Failed as fail:
            return ProbeResult(ok=False, error=fail.issue, warnings=warnings)
        except Exception as exc:
            return failed(exc, warnings=warnings)
        result.warnings[:0] = warnings
        previous = pin if pin is not None and pin != trust.seen else None
        result.tls = TlsInfo(self_signed=True, fingerprint=trust.seen, previous_fingerprint=previous)
        return result

    async def _speaks_tls(self, endpoint: Endpoint, addresses: tuple[str, ...]) -> bool:
        """After a plain-text greeting timed out: does the port expect implicit TLS instead? (Nothing is sent.)"""
        try:
            sock = await dial(addresses, endpoint.port, self.step_timeout)
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(sock=sock, ssl=TlsPolicy.unverified(), server_hostname=endpoint.host),
                timeout=self.step_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True

    # -- SMTP -----------------------------------------------------------------------------------------------
    async def _smtp_once(
        self, ep: Endpoint, ctx: ssl.SSLContext, addresses: tuple[str, ...], trust: PeerTrust
    ) -> ProbeResult:
        secrets = (ep.password,)
        sock = await dial(addresses, ep.port, self.step_timeout)
        client = smtp_client(ep, sock, ctx, self.step_timeout, self.local_hostname)
        await client.connect()  # from here the client's transport owns the socket (a failed connect closes it)
        try:
            if ep.security == "ssl":
                trust.check(smtp_peer_certificate(client))
            await client.ehlo()
            if ep.security == "starttls":
                if not client.supports_extension("starttls"):
                    raise _Failed(issue("starttls_unsupported", "EHLO did not offer STARTTLS"))
                await client.starttls(tls_context=ctx)
                trust.check(smtp_peer_certificate(client))  # before anything else goes over the new channel
                await client.ehlo()
            methods = client.server_auth_methods
            if not methods:
                raise _Failed(issue("smtp_auth_disabled", "EHLO did not offer AUTH"))
            try:
                if "plain" in methods:
                    await client.auth_plain(ep.username, ep.password)
                elif "login" in methods:
                    await client.auth_login(ep.username, ep.password)
                else:
                    raise _Failed(issue("auth_failed", f"no PLAIN or LOGIN mechanism (offered: {' '.join(methods)})"))
            except aiosmtplib.SMTPAuthenticationError as exc:
                text = f"{exc.code} {exc.message}"
                raise _Failed(issue(classify_reply(text, "smtp", exc.code), _scrub(text, secrets))) from exc
            except aiosmtplib.SMTPResponseException as exc:
                text = f"{exc.code} {exc.message}"
                raise _Failed(issue(classify_reply(text, "smtp", exc.code), _scrub(text, secrets))) from exc
        except CertificateChanged:
            client.close()  # not even QUIT over a channel we do not trust
            raise
        finally:
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await client.quit()
            with contextlib.suppress(Exception):
                client.close()
        return ProbeResult(ok=True)

    # -- IMAP (blocking, runs in a worker thread) -----------------------------------------------------------
    def _imap_once(
        self, ep: Endpoint, ctx: ssl.SSLContext, addresses: tuple[str, ...], trust: PeerTrust
    ) -> ProbeResult:
        secrets = (ep.password,)
        conn = GuardedIMAP4(
            ep.host,
            ep.port,
            addresses=addresses,
            timeout=self.step_timeout,
            implicit_tls=ctx if ep.security == "ssl" else None,
        )
        try:
            if ep.security == "starttls":
                if "STARTTLS" not in conn.capabilities:
                    raise _Failed(issue("starttls_unsupported", "CAPABILITY did not offer STARTTLS"))
                conn.starttls(ssl_context=ctx)
            if ep.security != "none":
                trust.check(conn.peer_certificate())
            try:
                conn.login(ep.username, ep.password)
            except imaplib.IMAP4.error as exc:
                text = _imap_text(exc)
                raise _Failed(issue(classify_reply(text, "imap"), _scrub(text, secrets))) from exc
            typ, listing = conn.list()
            folders = discover_folders(list(listing) if typ == "OK" else [])
            typ, data = conn.select("INBOX", readonly=True)
            if typ != "OK":
                text = " ".join(_decode(d) for d in data)
                code = classify_reply(text, "imap")
                raise _Failed(issue("mailbox_not_found" if code == "auth_failed" else code, _scrub(text, secrets)))
            with contextlib.suppress(Exception):
                conn.close()
        except CertificateChanged:
            with contextlib.suppress(Exception):
                conn.shutdown()  # no LOGOUT either
            raise
        finally:
            if conn.state != "LOGOUT":
                with contextlib.suppress(Exception):
                    conn.logout()
        return ProbeResult(ok=True, folders=folders)


def _decode(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _imap_text(exc: BaseException) -> str:
    if exc.args and isinstance(exc.args[0], bytes):
        return exc.args[0].decode("utf-8", "replace")  # the server's line itself, not its repr
    text = str(exc)
    match = re.fullmatch(r"b['\"](.*)['\"]", text)
    return match.group(1) if match else text


_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\)\s+(?:"(?:[^"\\]|\\.)*"|NIL)\s+(?P<name>.+)$')
_NAME_GUESSES = {
    "junk": ("junk", "spam", "junk e-mail", "junk email", "bulk mail", "[gmail]/spam"),
    "sent": ("sent", "sent items", "sent mail", "sent messages", "[gmail]/sent mail"),
}


def discover_folders(listing: Sequence[object]) -> dict[str, str]:
    """`{"inbox": ..., "junk": ..., "sent": ...}` from a LIST response: SPECIAL-USE flags first, then names."""
    found: dict[str, str] = {"inbox": "INBOX"}
    names: list[str] = []
    for raw in listing:
        if not isinstance(raw, bytes):
            continue
        match = _LIST_LINE.match(raw.strip())
        if match is None:
            continue
        name = match.group("name").decode("utf-8", "replace").strip()
        if name.startswith('"') and name.endswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        flags = match.group("flags").decode("ascii", "replace").lower().split()
        names.append(name)
        if "\\junk" in flags:
            found.setdefault("junk", name)
        if "\\sent" in flags:
            found.setdefault("sent", name)
    for role, guesses in _NAME_GUESSES.items():
        if role in found:
            continue
        for name in names:
            if name.lower() in guesses or name.lower().split("/")[-1] in guesses:
                found[role] = name
                break
    return found
