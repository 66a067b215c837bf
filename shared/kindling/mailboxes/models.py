"""Mailbox shapes: the stored mailbox and the API's request/response bodies (snake_case, as the reference)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kindling.mail.connection import Endpoint, Security
from kindling.mail.providers import Provider
from kindling.platform.models import PatchModel
from kindling.platform.settings import get_settings
from kindling.platform.text import MultiLine, SingleLine

MailboxStatus = Literal["created", "testing", "connected", "error", "disconnected", "deleted"]
ACTIVE_STATUSES: tuple[str, ...] = ("created", "testing", "connected", "error", "disconnected")
DAILY_SEND_LIMIT_MAX = 500  # the global per-mailbox hard cap
DEFAULT_DAILY_SEND_LIMIT = 50

_HOST_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def _email(value: str) -> str:
    try:
        result = email_validator.validate_email(
            value,
            check_deliverability=False,
            # The local stack and tests use the reserved .test domain; deployed stages do not accept it.
            test_environment=not get_settings().is_deployed,
            allow_smtputf8=False,
        )
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc
    return result.normalized.lower()


def _host(value: str) -> str:
    value = value.strip()
    try:
        # An IP literal (IPv6 with or without brackets) is a host too; the address rules judge it later.
        return str(ipaddress.ip_address(value[1:-1] if value.startswith("[") and value.endswith("]") else value))
    except ValueError:
        pass
    if not _HOST_RE.match(value):
        raise ValueError("not a valid host name")
    return value.lower().rstrip(".")


EmailAddress = Annotated[str, Field(max_length=320), AfterValidator(_email)]
Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
# User names go into SMTP AUTH and IMAP LOGIN commands: a CR/LF there would start another command.
Username = Annotated[SingleLine, Field(min_length=1, max_length=320)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
DailyLimit = Annotated[int, Field(ge=1, le=DAILY_SEND_LIMIT_MAX)]


class Mailbox(BaseModel):
    """The stored mailbox. Passwords are KMS ciphertexts (base64), never plaintext."""

    id: str
    workspace_id: str
    email_address: str
    external_id: str | None = None
    display_name: str | None = None
    status: MailboxStatus = "created"
    provider: Provider = "other"
    health_status: str = "ok"
    health_reasons: list[str] | None = None
    warmup_enabled: bool = False
    warmup_type: str = "normal"
    warmup_progress: int = 0
    warmup_pending: bool = False  # auto_enable_warmup: turn warmup on once connected
    sending_enabled: bool = True
    daily_send_limit: int = DEFAULT_DAILY_SEND_LIMIT
    signature: str | None = None
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_security: Security
    smtp_password_enc: str
    imap_host: str
    imap_port: int
    imap_username: str
    imap_security: Security
    imap_password_enc: str
    imap_folders: dict[str, str] = Field(default_factory=dict)
    # Trust on first use: the SHA-256 fingerprint ("sha256:<hex>") of the self-signed certificate each endpoint
    # presented at its last successful test; later connections accept exactly that certificate. None: the
    # endpoint's certificate must verify (CA-signed, host name checked). Cleared when the host or port changes.
    smtp_tls_pin: str | None = None
    imap_tls_pin: str | None = None
    last_tested_at: datetime | None = None
    last_test_error: str | None = None
    last_test_code: str | None = None
    # Outages (kindling.mailboxes.outage): when it last worked, when the current outage began, the reconnect
    # sweep's next re-test and how many re-tests of this outage failed, when the outage's notification went out.
    last_connected_at: datetime | None = None
    disconnected_since: datetime | None = None
    next_retest_at: datetime | None = None
    retest_attempts: int = 0
    outage_notified_at: datetime | None = None
    # Set (to the ended outage's start) by the write that flips it back to connected, cleared once the campaigns
    # paused for the outage are resumed: a resume lost with a crash stays due for the reconnect sweep.
    resume_pending_since: datetime | None = None
    generation: int = 0  # bumped by every credential change / re-test; stale checks are ignored
    version: int = 0  # optimistic concurrency on the stored item
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.status == "deleted"

    def smtp_endpoint(self, password: str) -> Endpoint:
        """How to reach the mailbox's SMTP server: host, port, login with the decrypted password, the pinned
        certificate (every SMTP caller builds it here, so none can forget the pin)."""
        return Endpoint(
            self.smtp_host, self.smtp_port, self.smtp_username, password, self.smtp_security, tls_pin=self.smtp_tls_pin
        )

    def imap_endpoint(self, password: str) -> Endpoint:
        """How to reach the mailbox's IMAP server, as `smtp_endpoint` does for SMTP."""
        return Endpoint(
            self.imap_host, self.imap_port, self.imap_username, password, self.imap_security, tls_pin=self.imap_tls_pin
        )

    @property
    def can_send(self) -> bool:
        """Connected with sending on: the campaign sender and warmup delivery may use it now."""
        return self.status == "connected" and self.sending_enabled

    @property
    def warms_up(self) -> bool:
        """Connected with warmup on: a member of the warmup pool."""
        return self.status == "connected" and self.warmup_enabled


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ConnectionFields(_Strict):
    smtp_host: Host | None = None
    smtp_port: Port | None = None
    smtp_username: Username | None = None
    smtp_security: Security | None = Field(
        default=None, description="`ssl` (implicit TLS), `starttls` or `none`; default from the port."
    )
    imap_host: Host | None = None
    imap_port: Port | None = None
    imap_username: Username | None = None
    imap_security: Security | None = None


class MailboxTestRequest(ConnectionFields):
    email_address: EmailAddress
    smtp_password: Password
    imap_password: Password | None = Field(default=None, description="Defaults to smtp_password.")


class MailboxCreate(MailboxTestRequest):
    external_id: SingleLine | None = Field(default=None, max_length=255)
    display_name: SingleLine | None = Field(default=None, max_length=255)
    signature: MultiLine | None = Field(default=None, max_length=20000)
    daily_send_limit: DailyLimit = DEFAULT_DAILY_SEND_LIMIT
    sending_enabled: bool = True
    auto_enable_warmup: bool = False


_NOT_NULLABLE = (
    "smtp_host",
    "smtp_port",
    "smtp_username",
    "smtp_security",
    "smtp_password",
    "imap_host",
    "imap_port",
    "imap_username",
    "imap_security",
    "imap_password",
    "daily_send_limit",
    "sending_enabled",
)
CREDENTIAL_FIELDS = (
    "smtp_host",
    "smtp_port",
    "smtp_username",
    "smtp_security",
    "smtp_password",
    "imap_host",
    "imap_port",
    "imap_username",
    "imap_security",
    "imap_password",
)


class MailboxUpdate(ConnectionFields, PatchModel):
    """PATCH body: only the fields sent change; `external_id`, `signature`, `display_name` clear with null."""

    smtp_password: Password | None = None
    imap_password: Password | None = None
    external_id: SingleLine | None = Field(default=None, max_length=255)
    display_name: SingleLine | None = Field(default=None, max_length=255)
    signature: MultiLine | None = Field(default=None, max_length=20000)
    daily_send_limit: DailyLimit | None = None
    sending_enabled: bool | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = _NOT_NULLABLE

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class TestErrorView(BaseModel):
    code: str = Field(examples=["auth_failed"])
    message: str
    detail: str | None = None


class TestResultView(BaseModel):
    """`smtp_ok`/`imap_ok` as the reference; the classified errors and warnings only when there are any."""

    model_config = ConfigDict(extra="allow")
    smtp_ok: bool
    imap_ok: bool
    smtp_error: TestErrorView | None = None
    imap_error: TestErrorView | None = None
    warnings: list[TestErrorView] | None = None
    tls: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="Per endpoint (`smtp`, `imap`) whose certificate is self-signed: `self_signed`, `fingerprint` "
        "(the pinned certificate's SHA-256), and `changed` + `previous_fingerprint` when a re-test replaced a pin.",
    )
