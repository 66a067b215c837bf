"""The local mail lab: SMTP submission (aiosmtpd) delivering into a real IMAP server.

Two "providers", each with its own SMTP listeners (STARTTLS, implicit TLS, plain), sharing one
IMAP server (Dovecot when installed, else pymap) and one optional MX listener:

- ``lab-mail`` (``lab-mail.test``) delivers everything to INBOX;
- ``lab-junk`` (``lab-junk.test``) files a deterministic share of incoming mail into Junk, decided
  by :func:`junk_verdict` on the Message-ID, so tests can predict which messages land there.

Any lab account can mail any other lab account; other recipients are refused at RCPT (the lab has
no route to the internet).
"""

from __future__ import annotations

import dataclasses
import email
import hashlib
import imaplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from devstack.maillab.backend import ImapBackend, MailLabError, validate_credentials
from devstack.maillab.certs import CertPaths, generate_certs
from devstack.maillab.dovecot import DovecotServer, dovecot_binary
from devstack.maillab.smtp import ListenerKind, ListenerSpec, SmtpServers

Security = Literal["starttls", "ssl", "none"]
BackendChoice = Literal["auto", "dovecot", "pymap"]

# Provider name -> (domain, whether it files a share of incoming mail into Junk).
PROVIDERS: dict[str, tuple[str, bool]] = {
    "lab-mail": ("lab-mail.test", False),
    "lab-junk": ("lab-junk.test", True),
}
# Demo mailboxes: (local part, provider, smtp_security, imap_security). The security mix means the
# local stack exercises every client path (STARTTLS and implicit TLS, for SMTP and for IMAP).
DEMO_ACCOUNTS: tuple[tuple[str, str, Security, Security], ...] = (
    ("alice", "lab-mail", "starttls", "starttls"),
    ("bob", "lab-mail", "ssl", "ssl"),
    ("carol", "lab-junk", "starttls", "ssl"),
    ("dave", "lab-junk", "ssl", "starttls"),
)
_SMTP_KIND: dict[Security, Literal["starttls", "ssl", "plain"]] = {
    "starttls": "starttls",
    "ssl": "ssl",
    "none": "plain",
}


def junk_verdict(message_id: str, ratio: float, seed: int = 0) -> bool:
    """Whether a junk-filing provider sends the message with this Message-ID to Junk.

    A stable hash (not ``hash()``, which is salted per process) of ``seed`` and the stripped
    Message-ID, mapped to [0, 1) and compared with ``ratio``.
    """
    if ratio <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{message_id.strip()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < ratio


@dataclass(frozen=True)
class MailAccount:
    """A lab mailbox and how to reach it, shaped like a mailbox's connection settings."""

    email: str
    password: str
    smtp_host: str
    smtp_port: int
    smtp_security: Security
    imap_host: str
    imap_port: int
    imap_security: Security
    provider: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Registered:
    password: str
    provider: str
    smtp_security: Security
    imap_security: Security


class MailLab:
    """Start/stop the whole lab; see the module docstring. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        base_dir: Path,
        *,
        host: str = "127.0.0.1",
        junk_ratio: float = 0.3,
        seed: int = 0,
        backend: BackendChoice = "auto",
        mx: bool = True,
        base_port: int | None = None,
    ) -> None:
        if not 0.0 <= junk_ratio <= 1.0:
            raise ValueError("junk_ratio must be within [0, 1]")
        self.base_dir = Path(base_dir).resolve()
        self.host = host
        self.junk_ratio = junk_ratio
        self.seed = seed
        self._backend_choice = backend
        self._mx = mx
        self._base_port = base_port
        self._registered: dict[str, _Registered] = {}
        self._certs: CertPaths | None = None
        self._imap: ImapBackend | None = None
        self._smtp: SmtpServers | None = None
        self.started_in: float | None = None
        for local, provider, smtp_sec, imap_sec in DEMO_ACCOUNTS:
            domain = PROVIDERS[provider][0]
            address = f"{local}@{domain}"
            self._registered[address] = _Registered(self._demo_password(address), provider, smtp_sec, imap_sec)

    def _demo_password(self, address: str) -> str:
        return "lab-" + hashlib.sha256(f"{self.seed}:{address}".encode()).hexdigest()[:12]

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def imap_backend(self) -> Literal["dovecot", "pymap"]:
        """Which IMAP server this lab runs (decided at construction for "auto": Dovecot if installed)."""
        if self._backend_choice == "auto":
            return "dovecot" if dovecot_binary() is not None else "pymap"
        return self._backend_choice

    def _port(self, offset: int) -> int | None:
        return None if self._base_port is None else self._base_port + offset

    def start(self, timeout: float = 15.0) -> None:
        if self._smtp is not None:
            return
        started = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        certs = generate_certs(self.base_dir / "tls", hosts=("localhost", self.host))
        self._certs = certs
        imap: ImapBackend
        if self.imap_backend == "dovecot":
            imap = DovecotServer(
                self.base_dir, certs, host=self.host, imap_port=self._port(0), imaps_port=self._port(1)
            )
        else:
            from devstack.maillab.pymap_server import PymapServer

            imap = PymapServer(self.base_dir, certs, host=self.host, imap_port=self._port(0), imaps_port=self._port(1))
        for address, reg in self._registered.items():
            imap.add_user(address, reg.password)
        self._imap = imap
        smtp = SmtpServers(self, server_context=certs.server_context(), host=self.host)
        if self._mx:
            smtp.add_listener(ListenerSpec("mx", "mx", "mx.lab.test", self._port(2) or 0))
        for index, (provider, (domain, _)) in enumerate(PROVIDERS.items()):
            kinds: tuple[ListenerKind, ...] = ("starttls", "ssl", "plain")
            for offset, kind in enumerate(kinds):
                port = self._port(3 + 3 * index + offset) or 0
                smtp.add_listener(ListenerSpec(f"{provider}:{kind}", kind, f"smtp.{domain}", port))
        self._smtp = smtp
        try:
            imap.start(timeout)
            smtp.start(timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - started

    def stop(self) -> None:
        smtp, self._smtp = self._smtp, None
        imap, self._imap = self._imap, None
        if smtp is not None:
            smtp.stop()
        if imap is not None:
            imap.stop()

    def __enter__(self) -> MailLab:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _running(self) -> tuple[ImapBackend, SmtpServers]:
        if self._imap is None or self._smtp is None:
            raise MailLabError("the mail lab is not running (call start())")
        return self._imap, self._smtp

    def pids(self) -> list[int]:
        """Child processes the lab runs now (the IMAP server's); empty after stop()."""
        return [] if self._imap is None else self._imap.pids()

    # -- accounts --------------------------------------------------------------------------
    @property
    def accounts(self) -> list[MailAccount]:
        """Every lab account (the 4 demo ones first), with the ports it is reachable on."""
        return [self.account(address) for address in self._registered]

    def account(self, address: str) -> MailAccount:
        imap, smtp = self._running()
        reg = self._registered[address.lower()]
        imap_port = imap.imaps_port if reg.imap_security == "ssl" else imap.imap_port
        return MailAccount(
            email=address.lower(),
            password=reg.password,
            smtp_host=self.host,
            smtp_port=smtp.port(f"{reg.provider}:{_SMTP_KIND[reg.smtp_security]}"),
            smtp_security=reg.smtp_security,
            imap_host=self.host,
            imap_port=imap_port,
            imap_security=reg.imap_security,
            provider=reg.provider,
        )

    def add_account(
        self,
        email: str,
        password: str,
        provider: str,
        *,
        smtp_security: Security = "starttls",
        imap_security: Security = "starttls",
    ) -> MailAccount:
        """Create (or replace) a lab mailbox; ``email``'s domain must be the provider's domain."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown lab provider {provider!r}; known: {sorted(PROVIDERS)}")
        validate_credentials(email, password)
        address = email.lower()
        domain = PROVIDERS[provider][0]
        if not address.endswith("@" + domain):
            raise ValueError(f"{provider} accounts live in @{domain}, not {email!r}")
        imap, _ = self._running()
        imap.add_user(address, password)
        self._registered[address] = _Registered(password, provider, smtp_security, imap_security)
        return self.account(address)

    @property
    def providers(self) -> dict[str, str]:
        """Provider name -> mail domain."""
        return {name: domain for name, (domain, _) in PROVIDERS.items()}

    def junk_ratio_of(self, provider: str) -> float:
        return self.junk_ratio if PROVIDERS[provider][1] else 0.0

    def expected_folder(self, recipient: str, message_id: str) -> str:
        """Where the lab files a message with ``message_id`` for ``recipient``: "INBOX" or "Junk"."""
        provider = self._registered[recipient.lower()].provider
        return "Junk" if junk_verdict(message_id, self.junk_ratio_of(provider), self.seed) else "INBOX"

    # -- ports, TLS ------------------------------------------------------------------------
    @property
    def ca_path(self) -> Path:
        """PEM of the lab CA that signed the servers' certificate (trust it, or skip verification)."""
        return self._certs_or_fail().ca_path

    @property
    def cert_path(self) -> Path:
        return self._certs_or_fail().cert_path

    def _certs_or_fail(self) -> CertPaths:
        if self._certs is None:
            raise MailLabError("the mail lab has no certificate before start()")
        return self._certs

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the lab servers against the lab CA."""
        return self._certs_or_fail().client_context()

    @property
    def imap_port(self) -> int:
        return self._running()[0].imap_port

    @property
    def imaps_port(self) -> int:
        return self._running()[0].imaps_port

    @property
    def mx_port(self) -> int:
        """Port of the unauthenticated MX listener (mail from 127.0.0.1 to lab recipients only)."""
        return self._running()[1].port("mx")

    def smtp_port(self, provider: str, security: Security) -> int:
        return self._running()[1].port(f"{provider}:{_SMTP_KIND[security]}")

    def backend_version(self) -> str:
        imap, _ = self._running()
        if isinstance(imap, DovecotServer):
            return f"Dovecot {imap.version()}"
        return imap.name

    def as_dev_json(self) -> dict[str, Any]:
        """What `make dev` writes to .kindling/dev.json about the lab."""
        return {
            "imap_backend": self.imap_backend,
            "ca_path": str(self.ca_path),
            "mx": {"host": self.host, "port": self.mx_port} if self._mx else None,
            "accounts": [account.as_dict() for account in self.accounts],
        }

    # -- Router (called from the SMTP thread) ----------------------------------------------
    def authenticate(self, username: str, password: str) -> bool:
        reg = self._registered.get(username.lower())
        return reg is not None and reg.password == password

    def is_local(self, address: str) -> bool:
        return address.lower() in self._registered

    def folder_for(self, recipient: str, message_id: str) -> str:
        return self.expected_folder(recipient, message_id)

    def deliver(self, envelope_from: str, recipient: str, raw: bytes, folder: str) -> None:
        imap, _ = self._running()
        imap.deliver(envelope_from, recipient.lower(), raw, folder)

    # -- IMAP helpers for tests ------------------------------------------------------------
    @contextmanager
    def imap(self, address: str) -> Iterator[imaplib.IMAP4]:
        """A logged-in IMAP connection for a lab account, using the account's own security."""
        account = self.account(address)
        ctx = self.client_ssl_context()
        conn: imaplib.IMAP4
        if account.imap_security == "ssl":
            conn = imaplib.IMAP4_SSL(account.imap_host, account.imap_port, ssl_context=ctx, timeout=30)
        else:
            conn = imaplib.IMAP4(account.imap_host, account.imap_port, timeout=30)
            if account.imap_security == "starttls":
                conn.starttls(ctx)
        try:
            conn.login(account.email, account.password)
            yield conn
        finally:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                conn.shutdown()

    def fetch_messages(self, address: str, folder: str = "INBOX") -> list[Message]:
        """Every message in ``folder``, in UID order, parsed; read-only (flags stay untouched)."""
        return [email.message_from_bytes(raw) for raw in self.fetch_raw(address, folder)]

    def fetch_raw(self, address: str, folder: str = "INBOX") -> list[bytes]:
        with self.imap(address) as conn:
            typ, data = conn.select(_quote(folder), readonly=True)
            if typ != "OK":
                raise MailLabError(f"cannot select {folder!r} for {address}: {data!r}")
            if int(data[0] or 0) == 0:
                return []
            typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
            if typ != "OK":
                raise MailLabError(f"FETCH failed in {folder!r} for {address}: {data!r}")
            # Responses come as (b"n (UID x BODY[] {size}", literal) tuples interleaved with b")".
            items: list[Any] = list(data)
            return [bytes(item[1]) for item in items if isinstance(item, tuple)]

    def wait_for_messages(
        self, address: str, folder: str = "INBOX", count: int = 1, timeout: float = 10.0
    ) -> list[Message]:
        """Poll ``folder`` until it holds at least ``count`` messages; return them."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.fetch_messages(address, folder)
            if len(messages) >= count or time.monotonic() >= deadline:
                if len(messages) < count:
                    raise MailLabError(
                        f"{address} {folder}: {len(messages)} message(s) after {timeout}s, wanted {count}"
                    )
                return messages
            time.sleep(0.05)

    def append(self, address: str, folder: str, raw: bytes, flags: str = "") -> None:
        """IMAP APPEND ``raw`` to ``folder`` (e.g. to inject a DSN or a reply)."""
        with self.imap(address) as conn:
            typ, data = conn.append(_quote(folder), flags or None, None, raw)
            if typ != "OK":
                raise MailLabError(f"APPEND to {folder!r} for {address} failed: {data!r}")

    def reset_mailboxes(self) -> None:
        """Delete every message of every lab account (all folders), for test isolation."""
        for address in self._registered:
            with self.imap(address) as conn:
                typ, folders = conn.list()
                for line in folders if typ == "OK" else []:
                    if not isinstance(line, bytes):
                        continue
                    name = line.decode().rsplit(' "/" ', 1)[-1]
                    typ, data = conn.select(name)
                    if typ == "OK" and int(data[0] or 0) > 0:
                        conn.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                        conn.expunge()


def _quote(folder: str) -> str:
    """imaplib sends mailbox names verbatim; quote them so names with spaces work."""
    if folder.startswith('"'):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
