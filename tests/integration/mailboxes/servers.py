"""Real mail servers on 127.0.0.1 for the connection tests: aiosmtpd (AUTH over STARTTLS, implicit TLS or
plain), a silent TCP listener (timeouts), a closed port, a listener that only counts connections, a server
that says one scripted banner, a TLS relay (any certificate in front of a plain server, recording what clients
send), and TLS certificates generated here.

The SMTP authenticator answers like real providers do: 535 5.7.8 for a wrong password, 534 5.7.9 for an
account that needs an App Password, 535 5.7.139 when SMTP AUTH is disabled (Microsoft 365), 550 5.1.1 for
an unknown mailbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


# --- certificates -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    @property
    def fingerprint(self) -> str:
        """ "sha256:" + the hex SHA-256 of the certificate's DER (computed here, not by the code under test)."""
        return "sha256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(self.cert.read_text())).hexdigest()


class CertFactory:
    """A test CA and leaves signed by it (valid, expired, wrong host) plus self-signed leaves."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kindling test CA")])
        now = dt.datetime.now(dt.UTC)
        self._ca_name = name
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key()), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_file = self.dir / "ca.pem"
        self.ca_file.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(
        self,
        name: str,
        hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
        *,
        expired: bool = False,
        self_signed: bool = False,
    ) -> Pem:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        not_after = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=30)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else self._ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=10))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        )
        cert = builder.sign(key if self_signed else self._ca_key, hashes.SHA256())
        pem = Pem(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        pem.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return pem


# --- SMTP -------------------------------------------------------------------------------------------------
@dataclass
class Accounts:
    passwords: dict[str, str] = field(default_factory=dict)
    app_password_required: set[str] = field(default_factory=set)
    auth_disabled: set[str] = field(default_factory=set)
    disabled_accounts: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)

    def __call__(self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user = auth_data.login.decode()
        password = auth_data.password.decode()
        self.logins.append(user)
        if user in self.auth_disabled:
            return AuthResult(
                success=False,
                handled=False,
                message="535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
                "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
            )
        if user in self.app_password_required:
            return AuthResult(
                success=False,
                handled=False,
                message="534 5.7.9 Application-specific password required. Learn more at "
                "https://support.google.com/mail/?p=InvalidSecondFactor",
            )
        if user in self.disabled_accounts:
            return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")
        if user not in self.passwords:
            return AuthResult(success=False, handled=False, message="550 5.1.1 Mailbox not found")
        if self.passwords[user] != password:
            return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")
        return AuthResult(success=True, auth_data=auth_data)


class _Sink:
    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raise AssertionError("a connection test must never send a message")


SmtpKind = Literal["starttls", "ssl", "plain", "plain_no_starttls"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(kind: SmtpKind, accounts: Accounts, pem: Pem | None = None, port: int | None = None) -> Iterator[int]:
    """Yield the port of an aiosmtpd server of `kind` on 127.0.0.1 (AUTH PLAIN and LOGIN); `port` reuses one
    (the same server coming back with another certificate)."""
    port = port or free_port()
    server_kwargs: dict[str, Any] = {"authenticator": accounts, "auth_require_tls": kind == "starttls"}
    ssl_context = None
    if kind == "starttls":
        assert pem is not None
        server_kwargs["tls_context"] = pem.server_context()
        server_kwargs["require_starttls"] = True
    elif kind == "ssl":
        assert pem is not None
        ssl_context = pem.server_context()
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port, ssl_context=ssl_context, **server_kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that completes the TCP handshake (kernel backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (bound then released; the kernel answers RST)."""
    return free_port()


# --- listeners that record what reached them -------------------------------------------------------------
class _Acceptor:
    """A thread accepting connections on 127.0.0.1 and handing each to `serve` (in its own thread)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def serve(self, conn: socket.socket) -> None:
        conn.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve_and_close, args=(conn,), daemon=True).start()

    def _serve_and_close(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> _Acceptor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class CountingListener(_Acceptor):
    """Counts the TCP connections it accepts (and closes them): proof that nothing was dialled."""


class BannerServer(_Acceptor):
    """Says `banner` to every client, then hangs up: a remote server's words, exactly as given."""

    def __init__(self, banner: bytes) -> None:
        super().__init__()
        self.banner = banner

    def serve(self, conn: socket.socket) -> None:
        conn.sendall(self.banner)
        conn.settimeout(2)
        with suppress(TimeoutError, OSError):
            conn.recv(1024)


class TlsRelay(_Acceptor):
    """Implicit TLS with `pem` in front of a plain-text server on `upstream_port` (Dovecot's IMAP port): the
    relay a self-signed IMAPS server, or a machine in the middle, is. `received` is every byte clients sent
    after the handshake, relayed or not."""

    def __init__(self, pem: Pem, upstream_port: int) -> None:
        super().__init__()
        self.context = pem.server_context()
        self.upstream_port = upstream_port
        self.received = bytearray()
        self._lock = threading.Lock()

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls, socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10) as upstream:
            down = threading.Thread(target=self._pipe, args=(upstream, tls, False), daemon=True)
            down.start()
            self._pipe(tls, upstream, True)
            down.join(timeout=10)

    def _pipe(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                for sock in (target, source):
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return
            if record:
                with self._lock:
                    self.received += data
            try:
                target.sendall(data)
            except OSError:
                return
