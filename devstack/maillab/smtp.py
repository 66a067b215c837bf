"""The lab's SMTP side: aiosmtpd listeners (submission with AUTH, optional MX) on one event loop.

Every listener runs on a single asyncio loop in one background thread (cheaper and quicker to
start than aiosmtpd's one-thread-per-``Controller``). Accepted mail goes to the lab's ``Router``,
which knows the accounts and hands each recipient's copy to the IMAP backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import ssl
import threading
import weakref
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import format_datetime, localtime
from typing import Any, Literal, Protocol

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from devstack.maillab.backend import MailLabError

log = logging.getLogger(__name__)


class _QuietLoginDataDeprecation(logging.Filter):
    """aiosmtpd 1.4 logs a deprecation warning on every successful AUTH (it sets the deprecated
    ``Session.login_data`` itself); drop just that line so the dev stack's log stays readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietLoginDataDeprecation())

ListenerKind = Literal["starttls", "ssl", "plain", "mx"]


class Router(Protocol):
    """What the SMTP listeners need to know about the lab's accounts and storage."""

    def authenticate(self, username: str, password: str) -> bool: ...

    def is_local(self, address: str) -> bool: ...

    def folder_for(self, recipient: str, message_id: str) -> str: ...

    def deliver(self, envelope_from: str, recipient: str, raw: bytes, folder: str) -> None: ...


@dataclass(frozen=True)
class ListenerSpec:
    """One SMTP listener.

    ``starttls``: STARTTLS required before AUTH and mail (port 587 style); ``ssl``: implicit TLS
    (port 465 style); ``plain``: AUTH over cleartext (for 'none' security); ``mx``: no AUTH, only
    from loopback peers, only to lab recipients (port 25 style, for DSNs and "external" mail).
    """

    name: str
    kind: ListenerKind
    hostname: str
    port: int = 0


def message_id_of(raw: bytes) -> str:
    """The Message-ID header value (stripped), or ``""`` when the message has none."""
    headers = BytesHeaderParser().parsebytes(raw)
    value = headers.get("Message-ID")
    return str(value).strip() if value is not None else ""


class _LabHandler:
    """aiosmtpd hooks shared by all listeners; per-listener behaviour comes from ``spec``."""

    def __init__(self, router: Router, spec: ListenerSpec) -> None:
        self.router = router
        self.spec = spec

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.spec.kind == "mx":
            peer = session.peer[0] if isinstance(session.peer, tuple) else ""
            if not _is_loopback(peer):
                return "554 5.7.1 Relay access denied"
        elif not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self.router.is_local(address):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "surrogateescape")
        queue_id = secrets.token_hex(5).upper()
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        message_id = message_id_of(raw)
        loop = asyncio.get_running_loop()
        envelope_from = envelope.mail_from or ""
        for rcpt in envelope.rcpt_tos:
            folder = self.router.folder_for(rcpt, message_id)
            trace = self._received(session, rcpt, queue_id, tls=tls)
            try:
                await loop.run_in_executor(None, self.router.deliver, envelope_from, rcpt, trace + raw, folder)
            except MailLabError:
                log.exception("mail lab: delivery to %s failed", rcpt)
                return "451 4.3.0 Local delivery failed, try again later"
        return f"250 2.0.0 Ok: queued as {queue_id}"

    def _received(self, session: Session, rcpt: str, queue_id: str, *, tls: bool) -> bytes:
        """A ``Received:`` trace header like Postfix writes (delivery is otherwise byte-faithful)."""
        peer_ip = session.peer[0] if isinstance(session.peer, tuple) else "unknown"
        helo = session.host_name or "unknown"
        proto = "ESMTP" + ("S" if tls else "") + ("A" if session.authenticated else "")
        date = format_datetime(localtime())
        return (
            f"Received: from {helo} (localhost [{peer_ip}])\r\n"
            f"\tby {self.spec.hostname} (Kindling mail lab) with {proto} id {queue_id}\r\n"
            f"\tfor <{rcpt}>; {date}\r\n"
        ).encode()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpServers:
    """All of the lab's SMTP listeners on one background event loop."""

    def __init__(
        self,
        router: Router,
        *,
        server_context: ssl.SSLContext,
        host: str = "127.0.0.1",
    ) -> None:
        self.router = router
        self.host = host
        self._server_context = server_context
        self._specs: dict[str, ListenerSpec] = {}
        self._ports: dict[str, int] = {}
        self._servers: list[asyncio.Server] = []
        # Weak: a long-running dev stack must not keep every past connection alive.
        self._protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def add_listener(self, spec: ListenerSpec) -> None:
        if self._loop is not None:
            raise MailLabError("add SMTP listeners before start()")
        self._specs[spec.name] = spec

    def port(self, name: str) -> int:
        """The bound port of listener ``name`` (after start)."""
        try:
            return self._ports[name]
        except KeyError:
            raise MailLabError(f"no running SMTP listener {name!r}") from None

    @property
    def ports(self) -> dict[str, int]:
        return dict(self._ports)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, args=(loop,), name="maillab-smtp", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def _factory(self, spec: ListenerSpec) -> SMTP:
        assert self._loop is not None
        kwargs: dict[str, Any] = {
            "hostname": spec.hostname,
            "ident": "Kindling mail lab ESMTP",
            "loop": self._loop,
        }
        if spec.kind == "starttls":
            kwargs.update(tls_context=self._server_context, require_starttls=True, auth_require_tls=True)
        elif spec.kind in ("ssl", "plain"):
            # Implicit TLS is already encrypted (aiosmtpd only knows about STARTTLS); 'plain' is
            # deliberately insecure so clients configured with security 'none' have a target.
            kwargs.update(auth_require_tls=False)
        if spec.kind != "mx":
            kwargs["authenticator"] = self._authenticate
        proto = SMTP(_LabHandler(self.router, spec), **kwargs)
        self._protocols.add(proto)
        return proto

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if self.router.authenticate(user, password):
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        for spec in self._specs.values():
            server = await loop.create_server(
                lambda spec=spec: self._factory(spec),
                self.host,
                spec.port,
                ssl=self._server_context if spec.kind == "ssl" else None,
                reuse_address=True,
            )
            self._servers.append(server)
            self._ports[spec.name] = server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        # Server.close() leaves accepted connections open (Python 3.11): close them too.
        for proto in list(self._protocols):
            if proto.transport is not None:
                proto.transport.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_default_executor()

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        if not thread.is_alive():
            loop.close()
        self._loop = None
        self._thread = None
        self._servers.clear()
        self._protocols.clear()
        self._ports.clear()
