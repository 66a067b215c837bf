"""What the mail lab needs from an IMAP server implementation (Dovecot, or the pymap fallback)."""

from __future__ import annotations

import socket
from typing import Protocol


class MailLabError(RuntimeError):
    """The mail lab (or one of its servers) could not start or do what was asked."""


class ImapBackend(Protocol):
    """An IMAP server the lab runs as a child and delivers into."""

    name: str
    host: str

    @property
    def imap_port(self) -> int:
        """Plain IMAP port, STARTTLS offered (and LOGIN allowed without it, for 'none' security)."""
        ...

    @property
    def imaps_port(self) -> int:
        """Implicit-TLS IMAP port."""
        ...

    def start(self, timeout: float = 15.0) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def is_running(self) -> bool: ...

    def pids(self) -> list[int]:
        """Process ids this backend started (empty when stopped)."""
        ...

    def add_user(self, email: str, password: str) -> None: ...

    def deliver(self, envelope_from: str, recipient: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver one message to one lab user's ``folder``, like a final MTA hop would."""
        ...


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def validate_credentials(email: str, password: str) -> None:
    """Reject values that would corrupt a passwd-file line (``:``-separated, one user per line)."""
    for label, value in (("email", email), ("password", password)):
        if not value or any(ch in value for ch in ":\r\n\0"):
            raise ValueError(f"mail lab {label} must be non-empty without ':' or newlines: {value!r}")
    if email.count("@") != 1 or "+" in email:
        raise ValueError(f"mail lab accounts need a plain user@domain address: {email!r}")
