"""Incremental IMAP sync with a per-folder cursor, folder discovery, and the warmup receiving-side actions.

Why stdlib imaplib (blocking) and not asyncio: the sync function handles one mailbox per invocation and
talks to one server, command after command; nothing overlaps, so an event loop buys nothing. imaplib is
already how `kindling.mail.connection` speaks IMAP, it handles literals and STARTTLS, and a subclass
can meter every command and byte at the socket (`Meter`).

Cost model (per folder, per sync):
- nothing new: one STATUS (UIDNEXT UIDVALIDITY [HIGHESTMODSEQ]) and no FETCH, whatever the folder holds;
- new mail: STATUS, EXAMINE, one UID FETCH per `batch_size` new messages, CLOSE; bytes grow with the new
  mail only (bodies are fetched as capped partials);
- UIDVALIDITY changed: the folder is listed again, but only a few header fields per message are fetched
  first; messages the caller has already seen (the `seen` hook, by `message_key`) are skipped, the rest are
  fetched in full.

Without CONDSTORE the cursor has no HIGHESTMODSEQ and UIDNEXT alone detects new mail (flag changes are then
not reported). Errors are raised as `ImapSyncError` with the mailbox module's stable codes.
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import ssl
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any, Literal

from kindling.mail.connection import (
    HINTS,
    CertificateChanged,
    Endpoint,
    GuardedIMAP4,
    PeerTrust,
    TlsPolicy,
    classify_exception,
    classify_reply,
    error_text,
    sanitize_detail,
)
from kindling.mail.imapproto import (
    Attachment,
    FolderInfo,
    ImapParseError,
    MailboxStatus,
    attachments_from_bodystructure,
    compress_uids,
    parse_copyuid,
    parse_esearch,
    parse_fetch,
    parse_internaldate,
    parse_list,
    parse_search,
    parse_status,
    quote_mailbox,
    text_of,
)
from kindling.mail.parsing import TEXT_LIMIT, ParsedMessage, parse_message
from kindling.platform.addresses import AddressRefused

if TYPE_CHECKING:  # typeshed's name for bytes-like; typing_extensions is not a runtime dependency
    from typing_extensions import Buffer

SYNC_HINTS: dict[str, str] = {
    **HINTS,
    "folder_not_found": "The folder does not exist on the server (renamed or deleted); folders are discovered again.",
}


class ImapSyncError(Exception):
    """A classified failure: `code` is one of the mailbox connection codes (or `folder_not_found`)."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def hint(self) -> str:
        return SYNC_HINTS.get(self.code, SYNC_HINTS["unknown_error"])


# --- metering ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterReading:
    """Commands sent and bytes on the wire (after TLS decryption, i.e. IMAP protocol bytes)."""

    commands: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    by_command: Mapping[str, int] = field(default_factory=dict)

    @property
    def bytes_total(self) -> int:
        return self.bytes_sent + self.bytes_received

    @property
    def fetches(self) -> int:
        return self.by_command.get("UID FETCH", 0) + self.by_command.get("FETCH", 0)

    def __sub__(self, other: MeterReading) -> MeterReading:
        diff = Counter(self.by_command)
        diff.subtract(other.by_command)
        return MeterReading(
            commands=self.commands - other.commands,
            bytes_sent=self.bytes_sent - other.bytes_sent,
            bytes_received=self.bytes_received - other.bytes_received,
            by_command={k: v for k, v in diff.items() if v},
        )


@dataclass
class Meter:
    commands: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    by_command: Counter[str] = field(default_factory=Counter)

    def reading(self) -> MeterReading:
        return MeterReading(self.commands, self.bytes_sent, self.bytes_received, dict(self.by_command))


class _MeteredIMAP4(GuardedIMAP4):
    """The guarded IMAP client (checked address, implicit TLS or not) counting commands and bytes."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: tuple[str, ...],
        timeout: float,
        meter: Meter,
        implicit_tls: ssl.SSLContext | None,
    ) -> None:
        # Set before super().__init__, which connects, reads the greeting and sends CAPABILITY.
        self.meter = meter
        super().__init__(host, port, addresses=addresses, timeout=timeout, implicit_tls=implicit_tls)

    def send(self, data: Buffer) -> None:
        self.meter.bytes_sent += len(memoryview(data))
        super().send(data)

    def read(self, size: int) -> bytes:
        data = super().read(size)
        self.meter.bytes_received += len(data)
        return data

    def readline(self) -> bytes:
        line = super().readline()
        self.meter.bytes_received += len(line)
        return line

    def _command(self, name: str, *args: Any) -> Any:
        self.meter.commands += 1
        label = f"UID {str(args[0]).upper()}" if name == "UID" and args else name
        self.meter.by_command[label] += 1
        return super()._command(name, *args)  # type: ignore[misc]

    def tagged(self, name: str, *args: str) -> tuple[str, list[Any]]:
        """Run a command and return the *tagged* reply (imaplib's uid() drops response codes such as COPYUID)."""
        typ, data = self._simple_command(name, *args)  # type: ignore[attr-defined]
        return str(typ), list(data)


# --- the session ----------------------------------------------------------------------------------------


def _wire_text(data: Sequence[object]) -> str:
    return " ".join(d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data if d is not None)


class ImapSession:
    """A logged-in IMAP connection with effective capabilities and a meter.

    `ignore_capabilities` hides extensions the server offers (e.g. CONDSTORE, MOVE, UIDPLUS), so the
    fallback paths can run against a server that has them, and so a server whose extension misbehaves can
    be worked around.
    """

    def __init__(self, imap: _MeteredIMAP4, *, ignore_capabilities: frozenset[str] = frozenset()) -> None:
        self.imap = imap
        self.meter = imap.meter
        self.ignore_capabilities = frozenset(c.upper() for c in ignore_capabilities)
        self.warnings: list[str] = []
        self._capabilities = self._effective(imap.capabilities)
        self._selected: tuple[str, bool] | None = None  # (folder, read-only)

    # -- connection --------------------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        endpoint: Endpoint,
        tls: TlsPolicy | None = None,
        *,
        timeout: float = 30.0,
        ignore_capabilities: frozenset[str] = frozenset(),
    ) -> ImapSession:
        """Check the address, connect, secure and log in. A pinned endpoint (`tls_pin`) must present exactly its
        pinned self-signed certificate (or, failing that, a CA-signed one): anything else is
        `tls_certificate_changed` before LOGIN. Without a pin the certificate must verify; a self-signed one is
        `self_signed_certificate` (a connection test pins it)."""
        policy = tls or TlsPolicy()
        try:
            addresses = policy.addresses_of(endpoint.host, endpoint.port)
        except AddressRefused as exc:
            raise ImapSyncError(classify_exception(exc), exc.message) from exc
        pin = endpoint.pin
        if pin is None:
            return cls._connect_once(endpoint, policy.verifying(), addresses, PeerTrust(), timeout, ignore_capabilities)
        try:
            session = cls._connect_once(
                endpoint, TlsPolicy.unverified(), addresses, PeerTrust(pin), timeout, ignore_capabilities
            )
        except ImapSyncError as exc:
            if exc.code != "tls_certificate_changed":
                raise
            changed = exc
        else:
            session.warnings.append("self_signed_certificate")
            return session
        try:
            return cls._connect_once(endpoint, policy.verifying(), addresses, PeerTrust(), timeout, ignore_capabilities)
        except ImapSyncError as exc:
            if exc.code == "self_signed_certificate":
                raise changed from None
            raise

    @classmethod
    def _connect_once(
        cls,
        ep: Endpoint,
        ctx: ssl.SSLContext,
        addresses: tuple[str, ...],
        trust: PeerTrust,
        timeout: float,
        ignore: frozenset[str],
    ) -> ImapSession:
        meter = Meter()
        try:
            imap = _MeteredIMAP4(
                ep.host,
                ep.port,
                addresses=addresses,
                timeout=timeout,
                meter=meter,
                implicit_tls=ctx if ep.security == "ssl" else None,
            )
        except Exception as exc:
            raise ImapSyncError(classify_exception(exc), _scrub(error_text(exc), ep.password)) from exc
        session = cls(imap, ignore_capabilities=ignore)
        try:
            if ep.security == "starttls":
                if not session.has("STARTTLS"):
                    raise ImapSyncError("starttls_unsupported", "CAPABILITY did not offer STARTTLS")
                with session._io():
                    imap.starttls(ssl_context=ctx)
            if ep.security != "none":
                try:
                    trust.check(imap.peer_certificate())  # before LOGIN sends the password
                except CertificateChanged as exc:
                    with contextlib.suppress(OSError):
                        imap.shutdown()  # not even LOGOUT over a channel we do not trust
                    raise ImapSyncError("tls_certificate_changed", str(exc)) from exc
            session.login(ep.username, ep.password)
        except ImapSyncError as exc:
            if exc.code != "tls_certificate_changed":
                session.close()
            raise
        except BaseException:
            session.close()
            raise
        return session

    def login(self, username: str, password: str) -> None:
        try:
            _, data = self.imap.login(username, password)
        except imaplib.IMAP4.error as exc:
            text = _scrub(_error_text(exc), password)
            if isinstance(exc, imaplib.IMAP4.abort):
                raise ImapSyncError("server_disconnected", text) from exc
            raise ImapSyncError(classify_reply(text, "imap"), text) from exc
        except Exception as exc:
            raise ImapSyncError(classify_exception(exc), _scrub(str(exc), password)) from exc
        # Servers usually announce the post-login capabilities in the OK; otherwise ask (one more command).
        text = _wire_text(data)
        if "[CAPABILITY " in text.upper():
            caps = text[text.upper().index("[CAPABILITY ") + 12 :].split("]", 1)[0].split()
            self._capabilities = self._effective(caps)
        else:
            with self._io():
                _, data = self.imap.capability()
            self._capabilities = self._effective(_wire_text(data).split())

    def close(self) -> None:
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            with contextlib.suppress(OSError):
                self.imap.shutdown()

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- capabilities ------------------------------------------------------------------------------------
    def _effective(self, caps: Sequence[str]) -> frozenset[str]:
        upper = {c.upper() for c in caps}
        # QRESYNC implies CONDSTORE (RFC 7162): hiding CONDSTORE hides both.
        if "CONDSTORE" in self.ignore_capabilities:
            upper.discard("QRESYNC")
        return frozenset(upper - self.ignore_capabilities)

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    def has(self, capability: str) -> bool:
        return capability.upper() in self._capabilities

    # -- command helpers ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _io(self) -> Iterator[None]:
        try:
            yield
        except ImapSyncError:
            raise
        except ImapParseError as exc:
            raise ImapSyncError("protocol_error", sanitize_detail(str(exc))) from exc
        except Exception as exc:
            raise ImapSyncError(classify_exception(exc), sanitize_detail(str(exc))) from exc

    def _ok(self, typ: str, data: Sequence[object], what: str, folder: str | None = None) -> None:
        if typ == "OK":
            return
        text = _wire_text(data)
        if folder is not None and ("NONEXISTENT" in text.upper() or "doesn't exist" in text or "not exist" in text):
            raise ImapSyncError("folder_not_found", sanitize_detail(f"{folder}: {text}"))
        raise ImapSyncError("protocol_error", sanitize_detail(f"{what} failed: {text}"))

    def status(self, folder: str) -> MailboxStatus:
        items = "UIDNEXT UIDVALIDITY HIGHESTMODSEQ" if self.has("CONDSTORE") else "UIDNEXT UIDVALIDITY"
        with self._io():
            typ, data = self.imap.status(quote_mailbox(folder), f"({items})")
            self._ok(typ, data, "STATUS", folder)
            return parse_status(data)

    def select(self, folder: str, *, readonly: bool) -> int:
        """SELECT (or EXAMINE when `readonly`); returns the UIDVALIDITY the server reports."""
        with self._io():
            typ, data = self.imap.select(quote_mailbox(folder), readonly)
            self._ok(typ, data, "SELECT", folder)
            self._selected = (folder, readonly)
            validity = self.imap.untagged_responses.get("UIDVALIDITY", [b"0"])[-1]
            return int(validity) if isinstance(validity, bytes) and validity.isdigit() else 0

    def leave(self) -> None:
        """Back to the authenticated state without expunging (STATUS on a selected folder is discouraged)."""
        if self.imap.state != "SELECTED":
            return
        with self._io():
            if self.has("UNSELECT"):
                self.imap.unselect()
            else:
                # CLOSE expunges \Deleted messages of a read-write folder (the user's too): re-open it read-only
                # first, where CLOSE expunges nothing.
                if self._selected is not None and not self._selected[1]:
                    self.imap.select(quote_mailbox(self._selected[0]), True)
                self.imap.close()
        self._selected = None

    def uid(self, command: str, *args: str) -> list[Any]:
        with self._io():
            typ, data = self.imap.uid(command, *args)
            self._ok(str(typ), data, f"UID {command}")
            return list(data)

    def tagged(self, *args: str) -> str:
        with self._io():
            typ, data = self.imap.tagged(*args)
            self._ok(typ, data, " ".join(args[:2]))
            return _wire_text(data)

    def search_uids(self, criteria: str) -> list[int]:
        """UID SEARCH; ESEARCH keeps the answer compact (``1:50000`` rather than 50,000 numbers)."""
        with self._io():
            if self.has("ESEARCH"):
                typ, data = self.imap.uid("SEARCH", "RETURN", "(ALL)", criteria)
                self._ok(str(typ), data, "UID SEARCH")
                _, esearch = self.imap.response("ESEARCH")
                return parse_esearch([d for d in esearch if d is not None])
            typ, data = self.imap.uid("SEARCH", criteria)
            self._ok(str(typ), data, "UID SEARCH")
            return parse_search(data)

    def fetch(self, uids: str, items: str, *, modifiers: str | None = None) -> list[dict[str, Any]]:
        """UID FETCH; entries without a UID (unsolicited flag updates) are dropped, "UID" is an int."""
        args = [uids, items] + ([modifiers] if modifiers else [])
        data = self.uid("FETCH", *args)
        with self._io():
            entries = [entry for entry in parse_fetch(data) if isinstance(entry.get("UID"), str)]
            for entry in entries:
                entry["UID"] = int(entry["UID"])
            return entries

    def expunge(self) -> None:
        with self._io():
            typ, data = self.imap.expunge()
            self._ok(str(typ), data, "EXPUNGE")

    def list_folders(self) -> list[FolderInfo]:
        with self._io():
            typ, data = self.imap.list('""', '"*"')
            self._ok(str(typ), data, "LIST")
            return parse_list(list(data))


def _error_text(exc: BaseException) -> str:
    """imaplib raises with the server's bytes repr'd (``b'[AUTHENTICATIONFAILED] ...'``): unwrap it."""
    text = str(exc)
    if len(text) > 3 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        return text[2:-1]
    return text


def _scrub(text: str, secret: str) -> str:
    return sanitize_detail(text, (secret,))


# --- folder discovery -----------------------------------------------------------------------------------

# Provider folder names (matched case-insensitively on the decoded name and on its last path component).
FOLDER_NAMES: dict[str, tuple[str, ...]] = {
    "junk": (
        "junk",
        "spam",
        "bulk mail",
        "bulk",
        "junk email",
        "junk e-mail",
        "junk-e-mail",
        "[gmail]/spam",
        "[google mail]/spam",
        "ongewenste e-mail",
        "courrier indésirable",
        "correo no deseado",
    ),
    "sent": ("sent", "sent items", "sent mail", "sent messages", "verzonden items", "gesendete elemente"),
    "trash": ("trash", "deleted items", "deleted messages", "bin", "papierkorb", "prullenbak"),
}
_SPECIAL_USE = {"\\junk": "junk", "\\sent": "sent", "\\trash": "trash"}


@dataclass(frozen=True)
class SyncFolders:
    """The folders the sync reads (`inbox`, `junk`) and the ones the warmup writes to; None when absent."""

    inbox: str = "INBOX"
    junk: str | None = None
    sent: str | None = None
    trash: str | None = None

    def scan_order(self) -> list[str]:
        return [self.inbox] + ([self.junk] if self.junk else [])


def pick_folders(folders: Sequence[FolderInfo], *, special_use: bool) -> SyncFolders:
    """SPECIAL-USE flags when the server advertises them; provider names for whatever they left unset."""
    found: dict[str, str] = {}
    inbox = "INBOX"
    for info in folders:
        if info.name.upper() == "INBOX":
            inbox = info.name
        if special_use and "\\noselect" not in info.flags:
            for flag, role in _SPECIAL_USE.items():
                if flag in info.flags:
                    found.setdefault(role, info.name)
    for role, names in FOLDER_NAMES.items():
        if role in found:
            continue
        for info in folders:
            if "\\noselect" in info.flags or "\\nonexistent" in info.flags:
                continue
            display = info.display.casefold()
            last = display.rsplit(info.delimiter or "/", 1)[-1] if info.delimiter else display
            if display in names or last in names:
                found[role] = info.name
                break
    return SyncFolders(inbox=inbox, junk=found.get("junk"), sent=found.get("sent"), trash=found.get("trash"))


def discover_folders(session: ImapSession) -> SyncFolders:
    return pick_folders(session.list_folders(), special_use=session.has("SPECIAL-USE"))


# --- cursor and plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderCursor:
    """Where a folder's sync stands: every UID up to `last_uid` in `uidvalidity` has been handled."""

    uidvalidity: int
    last_uid: int
    highestmodseq: int | None = None

    def to_dict(self) -> dict[str, int]:
        out = {"uidvalidity": self.uidvalidity, "last_uid": self.last_uid}
        if self.highestmodseq is not None:
            out["highestmodseq"] = self.highestmodseq
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FolderCursor:
        modseq = data.get("highestmodseq")
        return cls(
            uidvalidity=int(data["uidvalidity"]),
            last_uid=int(data["last_uid"]),
            highestmodseq=None if modseq is None else int(modseq),
        )


SyncMode = Literal["idle", "baseline", "initial", "incremental", "resync", "flags"]


@dataclass(frozen=True)
class SyncPlan:
    """What one sync must do, decided from the cursor and a STATUS answer alone (pure, unit-tested)."""

    mode: SyncMode
    first_uid: int  # new mail is first_uid..last_uid (inclusive); empty when first_uid > last_uid
    last_uid: int
    flags_changed_since: int | None  # CONDSTORE: report flag changes of old messages above this modseq

    @property
    def fetches_new(self) -> bool:
        return self.mode in ("initial", "incremental", "resync") and self.first_uid <= self.last_uid


def plan_sync(
    cursor: FolderCursor | None, status: MailboxStatus, *, since: date | None = None, track_flags: bool = False
) -> SyncPlan:
    top = status.uidnext - 1
    if cursor is None:
        # A first sync records where the folder stands; older mail is read only when asked (`since`).
        if since is None:
            return SyncPlan("baseline", top + 1, top, None)  # nothing to fetch; everything so far is handled
        return SyncPlan("initial", 1, top, None)
    if cursor.uidvalidity != status.uidvalidity:
        return SyncPlan("resync", 1, top, None)
    modseq_moved = (
        track_flags
        and cursor.highestmodseq is not None
        and status.highestmodseq is not None
        and status.highestmodseq > cursor.highestmodseq
        and cursor.last_uid > 0
    )
    flags_since = cursor.highestmodseq if modseq_moved else None
    if top > cursor.last_uid:
        return SyncPlan("incremental", cursor.last_uid + 1, top, flags_since)
    return SyncPlan("flags" if flags_since is not None else "idle", cursor.last_uid + 1, cursor.last_uid, flags_since)


# --- fetched messages -----------------------------------------------------------------------------------

_HEADER_PARSER = BytesHeaderParser(policy=compat32)


def message_key(header: bytes | Message) -> str:
    """The dedupe key: the Message-ID (angle brackets, lower-cased domain kept as sent), else a digest of
    Date/From/To/Subject so messages without one still dedupe across a resync."""
    headers = header if isinstance(header, Message) else _HEADER_PARSER.parsebytes(header)
    raw_id = str(headers.get("Message-ID", "") or "").strip()
    if raw_id:
        token = raw_id.split()[0]
        return token if token.startswith("<") else f"<{token.strip('<>')}>"
    basis = "\n".join(str(headers.get(name, "") or "").strip() for name in ("Date", "From", "To", "Subject"))
    return "sha256:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class FetchedMessage:
    """One message as fetched: header and the first bytes of the body (capped), flags, size, attachments."""

    uid: int
    flags: tuple[str, ...]
    size: int
    internal_date: datetime | None
    header: bytes
    body: bytes
    attachments: tuple[Attachment, ...] | None  # from BODYSTRUCTURE (None if the server sent none)
    key: str

    @property
    def raw(self) -> bytes:
        """Header + body prefix: the whole message unless `truncated`."""
        return self.header + self.body

    @property
    def truncated(self) -> bool:
        return len(self.header) + len(self.body) < self.size

    def parse(self, *, text_limit: int = TEXT_LIMIT) -> ParsedMessage:
        """Parsed headers and capped bodies; attachments from BODYSTRUCTURE, which also knows the parts a
        capped fetch did not download."""
        return parse_message(
            self.raw, text_limit=text_limit, attachments=self.attachments, source_truncated=self.truncated
        )


@dataclass(frozen=True)
class SyncLimits:
    header_bytes: int = 64 * 1024
    body_bytes: int = 128 * 1024
    batch_size: int = 100  # messages per UID FETCH
    key_batch_size: int = 1000  # messages per key-only FETCH during a resync
    max_messages: int = 500  # new messages returned per call; the cursor stops where this call stopped


@dataclass(frozen=True)
class SyncResult:
    folder: str
    mode: SyncMode
    cursor: FolderCursor
    new_messages: list[FetchedMessage]
    skipped_keys: list[str]  # new to this folder's UIDs but already seen by the caller (dedupe hook)
    flag_changes: dict[int, tuple[str, ...]]
    complete: bool  # False when `max_messages` stopped the call early; sync again to continue
    cost: MeterReading


KEY_FIELDS = "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO SUBJECT)])"


def _fetch_items(limits: SyncLimits) -> str:
    return (
        "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE "
        f"BODY.PEEK[HEADER]<0.{limits.header_bytes}> BODY.PEEK[TEXT]<0.{limits.body_bytes}>)"
    )


def _to_message(entry: Mapping[str, Any]) -> FetchedMessage:
    header = entry.get("BODY[HEADER]") or b""
    body = entry.get("BODY[TEXT]") or b""
    header = header.encode() if isinstance(header, str) else header
    body = body.encode() if isinstance(body, str) else body
    flags = entry.get("FLAGS") or []
    structure = entry.get("BODYSTRUCTURE")
    return FetchedMessage(
        uid=int(entry["UID"]),
        flags=tuple(str(f) for f in flags),
        size=int(entry.get("RFC822.SIZE") or 0),
        internal_date=parse_internaldate(text_of(entry.get("INTERNALDATE"))),
        header=header,
        body=body,
        attachments=tuple(attachments_from_bodystructure(structure)) if structure else None,
        key=message_key(header),
    )


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sync_folder(
    session: ImapSession,
    folder: str,
    cursor: FolderCursor | None,
    *,
    seen: Callable[[str], bool] | None = None,
    since: date | None = None,
    limits: SyncLimits | None = None,
    track_flags: bool = False,
) -> SyncResult:
    """Sync one folder from `cursor`; see the module docstring for the cost model.

    `seen(key)` tells whether the caller already processed a message with that `message_key`; such messages
    are reported in `skipped_keys` instead of `new_messages` (after a UIDVALIDITY change or on a first sync
    with `since`, without fetching their bodies). `since` limits a first sync or a resync to mail received
    on or after that day.
    """
    limits = limits or SyncLimits()
    before = session.meter.reading()
    status = session.status(folder)
    plan = plan_sync(cursor, status, since=since, track_flags=track_flags and session.has("CONDSTORE"))
    if plan.mode == "baseline":
        handled = plan.last_uid
    elif plan.mode in ("initial", "resync") or cursor is None:
        handled = 0
    else:
        handled = cursor.last_uid
    new: list[FetchedMessage] = []
    skipped: list[str] = []
    flag_changes: dict[int, tuple[str, ...]] = {}
    complete = True
    if plan.mode not in ("idle", "baseline"):
        with _selected(session, folder, readonly=True) as validity:
            if validity != status.uidvalidity:
                # Recreated between STATUS and EXAMINE: keep the old cursor; the next sync resyncs cleanly.
                raise ImapSyncError("protocol_error", f"{folder}: UIDVALIDITY changed during the sync")
            if plan.flags_changed_since is not None and cursor is not None:
                changed = session.fetch(
                    f"1:{cursor.last_uid}", "(UID FLAGS)", modifiers=f"(CHANGEDSINCE {plan.flags_changed_since})"
                )
                flag_changes = {e["UID"]: tuple(str(f) for f in e.get("FLAGS") or []) for e in changed}
            if plan.fetches_new:
                candidates = _candidates(session, plan, since, limits)
                if plan.mode in ("resync", "initial") and seen is not None:
                    candidates, skipped, seen_prefix = _drop_seen(session, candidates, seen, limits)
                    handled = max(handled, seen_prefix)
                todo = candidates[: limits.max_messages]
                complete = len(todo) == len(candidates)
                for chunk in _chunks(todo, limits.batch_size):
                    wanted = set(chunk)
                    fetched = session.fetch(compress_uids(chunk), _fetch_items(limits))
                    entries = [e for e in fetched if e["UID"] in wanted]
                    for message in sorted((_to_message(e) for e in entries), key=lambda m: m.uid):
                        if plan.mode == "incremental" and seen is not None and seen(message.key):
                            skipped.append(message.key)
                        else:
                            new.append(message)
                # Everything up to the plan's top was handled, unless the per-call cap stopped us earlier.
                handled = max(handled, plan.last_uid if complete else todo[-1])
    new_cursor = FolderCursor(uidvalidity=status.uidvalidity, last_uid=handled, highestmodseq=status.highestmodseq)
    cost = session.meter.reading() - before
    return SyncResult(folder, plan.mode, new_cursor, new, skipped, flag_changes, complete, cost)


@contextlib.contextmanager
def _selected(session: ImapSession, folder: str, *, readonly: bool) -> Iterator[int]:
    """SELECT/EXAMINE for the block, then back to the authenticated state (quietly when the block failed)."""
    validity = session.select(folder, readonly=readonly)
    try:
        yield validity
    except BaseException:
        with contextlib.suppress(ImapSyncError):
            session.leave()
        raise
    session.leave()


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imap_date(day: date) -> str:
    """RFC 3501 date (``8-Jun-2026``); not strftime("%b"), which follows the process locale."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def _candidates(session: ImapSession, plan: SyncPlan, since: date | None, limits: SyncLimits) -> list[int]:
    """The UIDs to look at: the plan's range, listed by SEARCH when it may be sparse or large."""
    width = plan.last_uid - plan.first_uid + 1
    if plan.mode == "incremental" and width <= min(limits.batch_size, limits.max_messages):
        # A bounded range (never `n:*`, which returns the last message when nothing is above n).
        return list(range(plan.first_uid, plan.last_uid + 1))
    criteria = f"UID {plan.first_uid}:{plan.last_uid}"
    if since is not None and plan.mode in ("initial", "resync"):
        criteria += " SINCE " + imap_date(since)
    return sorted(u for u in session.search_uids(criteria) if plan.first_uid <= u <= plan.last_uid)


def _drop_seen(
    session: ImapSession, candidates: list[int], seen: Callable[[str], bool], limits: SyncLimits
) -> tuple[list[int], list[str], int]:
    """Key-only fetch; returns (unseen UIDs, seen keys, highest UID below the first unseen one that was seen)."""
    unseen: list[int] = []
    skipped: list[str] = []
    prefix_done = 0
    for chunk in _chunks(candidates, limits.key_batch_size):
        wanted = set(chunk)
        for entry in sorted(session.fetch(compress_uids(chunk), KEY_FIELDS), key=lambda e: int(e["UID"])):
            uid = entry["UID"]
            if uid not in wanted:
                continue
            header = next((v for k, v in entry.items() if k.startswith("BODY[HEADER.FIELDS")), b"")
            key = message_key(header if isinstance(header, bytes) else str(header or "").encode())
            if seen(key):
                skipped.append(key)
                if not unseen:
                    prefix_done = uid
            else:
                unseen.append(uid)
    return unseen, skipped, prefix_done


# --- warmup receiving side -------------------------------------------------------------------------------

MoveMethod = Literal["move", "copy_uid_expunge", "copy_expunge", "copy_flagged"]


@dataclass(frozen=True)
class MoveResult:
    """`method`: MOVE; COPY + \\Deleted + UID EXPUNGE (UIDPLUS); COPY + \\Deleted + EXPUNGE (no other message
    was marked deleted); COPY + \\Deleted left in place (others were marked deleted, so expunging would remove
    them too). `new_uids` maps source UID -> destination UID when the server reports COPYUID."""

    method: MoveMethod
    uids: tuple[int, ...]
    new_uids: dict[int, int]


def store_flags(
    session: ImapSession, folder: str, uids: Sequence[int], flags: Sequence[str], *, add: bool = True
) -> None:
    """Add (or remove) flags on messages; leaves the folder afterwards."""
    if not uids:
        return
    with _selected(session, folder, readonly=False):
        op = "+FLAGS.SILENT" if add else "-FLAGS.SILENT"
        session.uid("STORE", compress_uids(uids), op, "(" + " ".join(flags) + ")")


def mark_seen(session: ImapSession, folder: str, uids: Sequence[int]) -> None:
    """ "Open" a warmup email."""
    store_flags(session, folder, uids, ["\\Seen"])


def mark_flagged(session: ImapSession, folder: str, uids: Sequence[int]) -> None:
    """Mark as important: \\Flagged is what providers show as starred / flagged / important."""
    store_flags(session, folder, uids, ["\\Flagged"])


def move_messages(session: ImapSession, source: str, destination: str, uids: Sequence[int]) -> MoveResult:
    """Move messages (e.g. a rescued warmup email from Junk to INBOX), by the best means the server offers."""
    ordered = tuple(sorted(set(uids)))
    if not ordered:
        return MoveResult("move" if session.has("MOVE") else "copy_uid_expunge", (), {})
    uid_set = compress_uids(ordered)
    dest = quote_mailbox(destination)
    with _selected(session, source, readonly=False):
        if session.has("MOVE"):
            session.imap.untagged_responses.pop("COPYUID", None)
            text = session.tagged("UID", "MOVE", uid_set, dest)
            # RFC 6851: COPYUID comes in an untagged OK before the expunges (some servers put it in the tagged OK).
            untagged = session.imap.untagged_responses.pop("COPYUID", None)
            mapping = parse_copyuid(f"[COPYUID {_wire_text(untagged[-1:])}]" if untagged else text) or {}
            return MoveResult("move", ordered, mapping)
        mapping = parse_copyuid(session.tagged("UID", "COPY", uid_set, dest)) or {}
        session.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        if session.has("UIDPLUS"):
            session.uid("EXPUNGE", uid_set)
            return MoveResult("copy_uid_expunge", ordered, mapping)
        # Plain EXPUNGE removes every \\Deleted message: only safe when ours are the only ones.
        if set(session.search_uids("DELETED")) <= set(ordered):
            session.expunge()
            return MoveResult("copy_expunge", ordered, mapping)
        return MoveResult("copy_flagged", ordered, mapping)
