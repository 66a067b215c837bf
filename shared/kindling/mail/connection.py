"""Real SMTP + IMAP connection tests and the classification of their failures into stable codes.

SMTP (aiosmtplib): connect (implicit TLS, STARTTLS or plain), EHLO, AUTH PLAIN/LOGIN, QUIT. Never MAIL/DATA.
IMAP (imaplib, in a worker thread): connect (implicit TLS, STARTTLS or plain), LOGIN, LIST (folder
discovery by SPECIAL-USE flags or names), SELECT INBOX, LOGOUT. Every step has its own timeout.

Certificates are verified. A self-signed certificate (OpenSSL verify codes 18/19) is accepted with a warning,
as the help center says; every other verification failure is `certificate_invalid`.

Passwords never appear in a result: every text that leaves this module goes through `_scrub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

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
        "intermittent issues."
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


@dataclass
class ProbeResult:
    ok: bool
    error: TestIssue | None = None
    warnings: list[TestIssue] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)


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


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:300]


# --- the tester ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsPolicy:
    """Which certificates to trust: the system store plus an optional extra CA bundle (the local mail lab's)."""

    extra_ca_file: str | None = None

    def verifying(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.extra_ca_file:
            ctx.load_verify_locations(cafile=self.extra_ca_file)
        return ctx

    @staticmethod
    def unverified() -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx


class _Failed(Exception):
    def __init__(self, found: TestIssue) -> None:
        super().__init__(found.code)
        self.issue = found


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
    async def test(self, smtp: Endpoint, imap: Endpoint) -> ConnectionTestResult:
        smtp_result, imap_result = await asyncio.gather(self.test_smtp(smtp), self.test_imap(imap))
        return ConnectionTestResult(smtp=smtp_result, imap=imap_result)

    def run(self, smtp: Endpoint, imap: Endpoint) -> ConnectionTestResult:
        """Synchronous entry point (API worker threads, the checker Lambda)."""
        return asyncio.run(self.test(smtp, imap))

    async def test_smtp(self, endpoint: Endpoint) -> ProbeResult:
        return await self._with_self_signed_retry(endpoint, self._smtp_once)

    async def test_imap(self, endpoint: Endpoint) -> ProbeResult:
        async def once(ep: Endpoint, ctx: ssl.SSLContext) -> ProbeResult:
            return await asyncio.to_thread(self._imap_once, ep, ctx)

        return await self._with_self_signed_retry(endpoint, once)

    # -- shared flow ----------------------------------------------------------------------------------------
    async def _with_self_signed_retry(
        self, endpoint: Endpoint, run: Callable[[Endpoint, ssl.SSLContext], Awaitable[ProbeResult]]
    ) -> ProbeResult:
        secrets = (endpoint.password,)
        try:
            return await run(endpoint, self.tls.verifying())
        except _Failed as failed:
            return ProbeResult(ok=False, error=failed.issue)
        except Exception as exc:
            code = classify_exception(exc)
            if code != "self_signed_certificate":
                if code == "timeout" and endpoint.security != "ssl" and await self._speaks_tls(endpoint):
                    code = "tls_wrong_version"
                return ProbeResult(ok=False, error=issue(code, _scrub(str(exc), secrets) or None))
        warning = issue("self_signed_certificate")
        try:
            result = await run(endpoint, self.tls.unverified())
        except _Failed as failed:
            return ProbeResult(ok=False, error=failed.issue, warnings=[warning])
        except Exception as exc:
            return ProbeResult(
                ok=False, error=issue(classify_exception(exc), _scrub(str(exc), secrets) or None), warnings=[warning]
            )
        result.warnings.insert(0, warning)
        return result

    async def _speaks_tls(self, endpoint: Endpoint) -> bool:
        """After a plain-text greeting timed out: does the port expect implicit TLS instead?"""
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    endpoint.host, endpoint.port, ssl=self.tls.unverified(), server_hostname=endpoint.host
                ),
                timeout=self.step_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True

    # -- SMTP -----------------------------------------------------------------------------------------------
    async def _smtp_once(self, ep: Endpoint, ctx: ssl.SSLContext) -> ProbeResult:
        secrets = (ep.password,)
        client = aiosmtplib.SMTP(
            hostname=ep.host,
            port=ep.port,
            local_hostname=self.local_hostname,
            timeout=self.step_timeout,
            use_tls=ep.security == "ssl",
            start_tls=False,
            tls_context=ctx,
        )
        await client.connect()
        try:
            await client.ehlo()
            if ep.security == "starttls":
                if not client.supports_extension("starttls"):
                    raise _Failed(issue("starttls_unsupported", "EHLO did not offer STARTTLS"))
                await client.starttls(tls_context=ctx)
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
        finally:
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await client.quit()
            with contextlib.suppress(Exception):
                client.close()
        return ProbeResult(ok=True)

    # -- IMAP (blocking, runs in a worker thread) -----------------------------------------------------------
    def _imap_once(self, ep: Endpoint, ctx: ssl.SSLContext) -> ProbeResult:
        secrets = (ep.password,)
        conn: imaplib.IMAP4
        if ep.security == "ssl":
            conn = imaplib.IMAP4_SSL(ep.host, ep.port, ssl_context=ctx, timeout=self.step_timeout)
        else:
            conn = imaplib.IMAP4(ep.host, ep.port, timeout=self.step_timeout)
        try:
            if ep.security == "starttls":
                if "STARTTLS" not in conn.capabilities:
                    raise _Failed(issue("starttls_unsupported", "CAPABILITY did not offer STARTTLS"))
                conn.starttls(ssl_context=ctx)
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
        finally:
            with contextlib.suppress(Exception):
                conn.logout()
        return ProbeResult(ok=True, folders=folders)


def _decode(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _imap_text(exc: BaseException) -> str:
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
