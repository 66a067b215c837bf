"""A private Dovecot (IMAP + LMTP) run in the foreground from a generated config.

Everything lives under the caller's base dir (config, passwd-file, logs, maildirs) except the
runtime dir (sockets, pid file), which goes in a short temp dir because unix socket paths are
limited to ~107 bytes and pytest's temp paths are long.

Users and privileges: Dovecot refuses mail access as root, so when we run as root the mail
processes use the ``dovecot`` system user (created by the Debian package; ``nobody`` otherwise) and
the other processes stay root (login processes use ``dovenull``: Dovecot refuses root there too).
When not root, every process runs as the invoking user. If that mail user cannot reach
``<base>/dovecot/mail`` (e.g. pytest's 0700 temp root), the maildirs go in the runtime temp dir
and ``<base>/dovecot/mail`` becomes a symlink to them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from devstack.maillab.backend import MailLabError, free_port, validate_credentials
from devstack.maillab.certs import CertPaths

SPECIAL_USE = {"Junk": "\\Junk", "Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash"}


def dovecot_binary() -> str | None:
    """Path of the ``dovecot`` executable, if installed (Debian puts it in /usr/sbin)."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def _traversable(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` can reach ``path`` through every ancestor directory (search bit)."""
    for part in [path, *path.parents]:
        try:
            st = part.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _session_pids(sid: int) -> list[int]:
    """Processes in session ``sid`` (the master is started as a session leader, children inherit it)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state ppid pgrp session ...
        fields = stat_line.rsplit(")", 1)[1].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


class DovecotServer:
    """Dovecot with IMAP (STARTTLS) + IMAPS on 127.0.0.1, LMTP on a unix socket, passwd-file users."""

    name = "dovecot"

    def __init__(
        self,
        base_dir: Path,
        certs: CertPaths,
        *,
        host: str = "127.0.0.1",
        imap_port: int | None = None,
        imaps_port: int | None = None,
        binary: str | None = None,
    ) -> None:
        self.host = host
        self.base_dir = (base_dir / "dovecot").resolve()
        self.certs = certs
        self._imap_port = imap_port
        self._imaps_port = imaps_port
        self._binary = binary or dovecot_binary()
        self.conf_path = self.base_dir / "dovecot.conf"
        self.users_dir = self.base_dir / "users.d"
        self.log_path = self.base_dir / "logs" / "dovecot.log"
        self._users: dict[str, str] = {}
        self._users_mtime = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._runtime_dir: Path | None = None
        self.mail_dir: Path = self.base_dir / "mail"

    # -- ports / state ---------------------------------------------------------------------
    @property
    def imap_port(self) -> int:
        if self._imap_port is None:
            raise MailLabError("Dovecot has no IMAP port before start()")
        return self._imap_port

    @property
    def imaps_port(self) -> int:
        if self._imaps_port is None:
            raise MailLabError("Dovecot has no IMAPS port before start()")
        return self._imaps_port

    @property
    def lmtp_socket(self) -> Path:
        if self._runtime_dir is None:
            raise MailLabError("Dovecot has no LMTP socket before start()")
        return self._runtime_dir / "lmtp"

    def version(self) -> str:
        """``dovecot --version``, e.g. ``2.3.19.1 (9b53102964)``."""
        if self._binary is None:
            raise MailLabError("dovecot is not installed")
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [self._binary, "--version"], capture_output=True, check=True, timeout=10
        )
        return out.stdout.decode().strip()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def pids(self) -> list[int]:
        if self._proc is None:
            return []
        return sorted({self._proc.pid, *_session_pids(self._proc.pid)} if self.is_running() else [])

    # -- users -----------------------------------------------------------------------------
    def add_user(self, email: str, password: str) -> None:
        """Add a user or change a password; takes effect for the next login.

        One passwd-file per user (``users.d/<domain>/<local>``): Dovecot stats a passwd-file at most
        once per second, so edits to one shared file could go unseen for up to a second, while a
        file path it has not loaded yet is read on first lookup. Only a password *change* can still
        hit that gate, so it waits for the next second.
        """
        validate_credentials(email, password)
        email = email.lower()
        previous = self._users.get(email)
        self._users[email] = password
        self._write_user(email, password)
        if previous is not None and previous != password and self.is_running():
            time.sleep(1.05 - (time.time() % 1.0))

    def _write_user(self, email: str, password: str) -> None:
        local, _, domain = email.partition("@")
        path = self.users_dir / domain / local
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{local}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{email}:{{PLAIN}}{password}::::::\n")
        os.replace(tmp, path)
        # Dovecot compares whole-second mtimes and sizes: make every rewrite look new.
        self._users_mtime = max(int(time.time()), self._users_mtime + 1)
        os.utime(path, (self._users_mtime, self._users_mtime))

    # -- config ----------------------------------------------------------------------------
    def _mail_identity(self) -> tuple[str | None, int, int]:
        """(mail user name or None for "the invoking user", uid, gid) the mail processes run as."""
        if os.geteuid() != 0:
            return None, os.geteuid(), os.getegid()
        for candidate in ("dovecot", "nobody"):
            try:
                entry = pwd.getpwnam(candidate)
            except KeyError:
                continue
            return candidate, entry.pw_uid, entry.pw_gid
        raise MailLabError("running as root but neither a 'dovecot' nor a 'nobody' user exists")

    def _prepare_mail_dir(self, uid: int, gid: int, runtime: Path) -> Path:
        link = self.base_dir / "mail"
        if os.geteuid() != 0:
            link.mkdir(parents=True, exist_ok=True)
            return link
        if not link.is_symlink() and _traversable(self.base_dir, uid, gid):
            link.mkdir(parents=True, exist_ok=True)
            target = link
        else:
            target = runtime / "mail"
            target.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(target, target_is_directory=True)
            runtime.chmod(0o755)
        os.chown(target, uid, gid)
        target.chmod(0o750)
        return target

    def _render_config(self, runtime: Path, mail_user: str | None, mail_uid: int, mail_gid: int) -> str:
        if mail_user is None:
            me = pwd.getpwuid(os.geteuid()).pw_name
            users = (
                f"default_internal_user = {me}\ndefault_login_user = {me}\n"
                f"first_valid_uid = {mail_uid}\nfirst_valid_gid = {mail_gid}\n"
            )
        else:
            users = (
                "default_internal_user = root\ndefault_internal_group = root\n"
                "default_login_user = dovenull\n"
                f"mail_uid = {mail_user}\nmail_gid = {mail_gid}\n"
                f"first_valid_uid = {mail_uid}\nfirst_valid_gid = {mail_gid}\n"
            )
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = {flag}\n    auto = subscribe\n  }}\n"
            for name, flag in SPECIAL_USE.items()
        )
        home = f"{self.mail_dir}/%d/%n"
        return f"""# Generated by devstack.maillab.dovecot; edits are overwritten at start.
base_dir = {runtime}
state_dir = {runtime}/state
instance_name = kindling-lab-{self.imap_port}
protocols = imap lmtp
listen = {self.host}
log_path = {self.log_path}
info_log_path = {self.log_path}
{users}
ssl = yes
ssl_cert = <{self.certs.cert_path}
ssl_key = <{self.certs.key_path}
# The lab allows LOGIN without TLS on the plain port so 'none' security can be exercised.
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
# Junk filing: the lab's SMTP server delivers to user+Junk@domain over LMTP.
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
# The lab's SMTP server writes the trace header itself; do not leak the +Junk detail.
lmtp_add_received_header = no
lmtp_hdr_delivery_address = none

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {self.users_dir}/%Ld/%Ln
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {self.users_dir}/%Ld/%Ln
  default_fields = home={home}
}}

namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}

protocol imap {{
  mail_max_userip_connections = 200
}}
protocol lmtp {{
  postmaster_address = postmaster@lab.test
}}

service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        if self._binary is None:
            raise MailLabError("dovecot is not installed (run scripts/install-system-deps.sh)")
        if self.is_running():
            return
        if self._imap_port is None:
            self._imap_port = free_port(self.host)
        if self._imaps_port is None:
            self._imaps_port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        runtime = Path(tempfile.mkdtemp(prefix="kdl-dovecot-"))
        self._runtime_dir = runtime
        mail_user, uid, gid = self._mail_identity()
        self.mail_dir = self._prepare_mail_dir(uid, gid, runtime)
        # Only the users this instance knows: drop files left by an earlier run in the same dir.
        shutil.rmtree(self.users_dir, ignore_errors=True)
        for email, password in self._users.items():
            self._write_user(email, password)
        self.conf_path.write_text(self._render_config(runtime, mail_user, uid, gid))
        stderr_path = self.log_path.with_name("dovecot.stderr")
        with stderr_path.open("ab") as err:
            # New session: the master and its children share a session id we can find and reap.
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [self._binary, "-F", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise MailLabError(f"dovecot exited with {self._proc.returncode}:\n{self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.imap_port), timeout=2) as sock:
                    greeting = sock.recv(512)
                if greeting.startswith(b"* OK") and self.lmtp_socket.exists():
                    with socket.create_connection((self.host, self.imaps_port), timeout=2):
                        return
                last_error = f"greeting {greeting[:60]!r}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.02)
        raise MailLabError(f"dovecot not ready after {timeout}s ({last_error}):\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        chunks = []
        for path in (self.log_path, self.log_path.with_name("dovecot.stderr")):
            with contextlib.suppress(OSError):
                chunks.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(chunks)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            sid = proc.pid
            # Signal the whole process group: with clients still connected, imap/auth/log children
            # outlive a master that alone got SIGTERM.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(sid, signal.SIGKILL)
                proc.wait(timeout)
            deadline = time.monotonic() + min(timeout, 3.0)
            while _session_pids(sid) and time.monotonic() < deadline:
                time.sleep(0.02)
            for pid in _session_pids(sid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None

    # -- delivery --------------------------------------------------------------------------
    def deliver(self, envelope_from: str, recipient: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver over LMTP; a non-INBOX folder is chosen with the ``user+Folder@domain`` detail."""
        local, _, domain = recipient.partition("@")
        rcpt = recipient if folder == "INBOX" else f"{local}+{folder}@{domain}"
        try:
            with smtplib.LMTP(str(self.lmtp_socket), timeout=30) as lmtp:
                refused = lmtp.sendmail(envelope_from, [rcpt], raw)
        except smtplib.SMTPException as exc:
            raise MailLabError(f"LMTP delivery to {rcpt} failed: {exc}") from exc
        if refused:
            raise MailLabError(f"LMTP refused {rcpt}: {refused}")
