"""Fallback IMAP backend when Dovecot is not installed: pymap (pure Python) as a child process.

pymap 0.36 serves IMAP4rev1 with STARTTLS, IDLE, UIDPLUS, MOVE and MULTIAPPEND from Maildir++
folders, but it has **no CONDSTORE/QRESYNC, no SPECIAL-USE attributes in LIST and no implicit-TLS
listener**. So with this backend:

- IMAPS is a small TLS-terminating proxy (in a thread) in front of pymap's plain port;
- Junk/Sent/Drafts/Trash exist (created on disk) but LIST does not flag them; clients must fall
  back to the folder names;
- delivery is an IMAP APPEND as the recipient (pymap's own delivery path needs its gRPC admin
  extra), so there is no LMTP ``Return-Path``; it is prepended here instead.

Flows that need CONDSTORE or SPECIAL-USE only run against Dovecot.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import mailbox
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from devstack.maillab.backend import MailLabError, free_port, validate_credentials
from devstack.maillab.certs import CertPaths
from devstack.maillab.dovecot import SPECIAL_USE

# Fast hashing is fine for throwaway lab passwords; pymap's default pbkdf2 rounds cost ~0.3 s per login.
_HASH_ROUNDS = 1000


def pymap_available() -> bool:
    try:
        import pymap  # noqa: F401
    except ImportError:
        return False
    return True


class _TlsProxy:
    """Accepts implicit-TLS connections and pipes the plaintext to pymap's port."""

    def __init__(self, host: str, port: int, upstream_port: int, certs: CertPaths) -> None:
        self.host, self.port, self.upstream_port = host, port, upstream_port
        self._context = certs.server_context()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    def start(self, timeout: float) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="maillab-imaps-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, ssl=self._context, reuse_address=True
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self, timeout: float) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None


class PymapServer:
    """pymap (maildir backend) with the lab backend interface; see the module docstring."""

    name = "pymap"

    def __init__(
        self,
        base_dir: Path,
        certs: CertPaths,
        *,
        host: str = "127.0.0.1",
        imap_port: int | None = None,
        imaps_port: int | None = None,
    ) -> None:
        self.host = host
        self.base_dir = (base_dir / "pymap").resolve()
        self.certs = certs
        self._imap_port = imap_port
        self._imaps_port = imaps_port
        self._users: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._proxy: _TlsProxy | None = None
        self.log_path = self.base_dir / "pymap.log"

    @property
    def imap_port(self) -> int:
        if self._imap_port is None:
            raise MailLabError("pymap has no IMAP port before start()")
        return self._imap_port

    @property
    def imaps_port(self) -> int:
        if self._imaps_port is None:
            raise MailLabError("pymap has no IMAPS port before start()")
        return self._imaps_port

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def pids(self) -> list[int]:
        return [self._proc.pid] if self._proc is not None and self.is_running() else []

    # -- users -----------------------------------------------------------------------------
    def add_user(self, email: str, password: str) -> None:
        validate_credentials(email, password)
        self._users[email.lower()] = password
        self._write_users()
        self._create_folders(email.lower())

    def _write_users(self) -> None:
        # pymap re-reads these (passwd/shadow-like) files on every login.
        from pysasl.hashing import BuiltinHash
        from pysasl.prep import saslprep

        hasher = BuiltinHash(rounds=_HASH_ROUNDS)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        passwd = "".join(f"{email}:::::{self._home(email)}:\n" for email in sorted(self._users))
        shadow = "".join(f"{email}:{hasher.hash(saslprep(pw))}:::::::\n" for email, pw in sorted(self._users.items()))
        for name, text in (("pymap-etc-passwd", passwd), ("pymap-etc-shadow", shadow)):
            tmp = self.base_dir / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, self.base_dir / name)

    @staticmethod
    def _home(email: str) -> str:
        local, _, domain = email.partition("@")
        return f"mail/{domain}/{local}"

    def _create_folders(self, email: str) -> None:
        path = self.base_dir / self._home(email)
        path.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.Maildir(path, create=True)
        existing = set(box.list_folders())
        for folder in SPECIAL_USE:
            if folder not in existing:
                box.add_folder(folder)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        if not pymap_available():
            raise MailLabError(
                "Dovecot is not installed and the pymap fallback is missing: run "
                "scripts/install-system-deps.sh (Dovecot) or pip install -r requirements-dev.txt (pymap)"
            )
        if self.is_running():
            return
        if self._imap_port is None:
            self._imap_port = free_port(self.host)
        if self._imaps_port is None:
            self._imaps_port = free_port(self.host)
        self._write_users()
        for email in self._users:
            self._create_folders(email)
        argv = [
            sys.executable,
            "-c",
            "from pymap.main import main; main()",
            "--no-service",
            "managesieve",
            "--no-service",
            "admin",
            "--no-service",
            "swim",
            "--host",
            self.host,
            "--port",
            str(self.imap_port),
            "--cert",
            str(self.certs.cert_path),
            "--key",
            str(self.certs.key_path),
            "maildir",
            str(self.base_dir),
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        try:
            self._wait_ready(timeout)
            self._proxy = _TlsProxy(self.host, self.imaps_port, self.imap_port, self.certs)
            self._proxy.start(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise MailLabError(f"pymap exited with {self._proc.returncode}:\n{self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.imap_port), timeout=2) as sock:
                    if sock.recv(512).startswith(b"* OK"):
                        return
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise MailLabError(f"pymap not ready after {timeout}s ({last_error}):\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.stop(timeout)
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    # -- delivery --------------------------------------------------------------------------
    def deliver(self, envelope_from: str, recipient: str, raw: bytes, folder: str = "INBOX") -> None:
        password = self._users.get(recipient.lower())
        if password is None:
            raise MailLabError(f"{recipient} is not a pymap lab user")
        message = f"Return-Path: <{envelope_from}>\r\n".encode() + raw
        try:
            conn = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
            try:
                conn.login(recipient.lower(), password)
                typ, data = conn.append(f'"{folder}"', None, None, message)
                if typ != "OK":
                    raise MailLabError(f"pymap APPEND to {folder} for {recipient} failed: {data!r}")
            finally:
                with contextlib.suppress(imaplib.IMAP4.error, OSError):
                    conn.logout()
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailLabError(f"pymap delivery to {recipient} failed: {exc}") from exc

    def wipe(self) -> None:
        """Remove pymap's data dir (only when stopped)."""
        if self.is_running():
            raise MailLabError("stop pymap before wiping its data")
        shutil.rmtree(self.base_dir, ignore_errors=True)
