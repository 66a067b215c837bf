"""Settings read once from the environment into a validated model (lazily, never at import time).

A deployed stage (dev, staging, prod) refuses, at construction, every value that only makes sense on the local
stack or in tests (design invariant 8): private/loopback customer targets, an extra mail CA (the mail lab's),
MX lookups switched off, an AWS endpoint override, the local stack's tracking secret, and a public base URL
that is not a public https URL. Every function reads its settings on first use, so a misconfigured stage
fails at cold start, naming the offending environment variables, before it sends or stores anything.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

Stage = Literal["local", "dev", "staging", "prod", "test"]
DEPLOYED_STAGES: tuple[Stage, ...] = ("dev", "staging", "prod")

# Where links point on the local stack and in tests when nothing else is configured (the local API's port).
LOCAL_BASE_URL = "http://127.0.0.1:3000"
# The local stack's tracking secret (devstack sets it): public knowledge, so never a deployed stage's.
LOCAL_TRACKING_SECRET = "kindling-local-tracking-secret"  # noqa: S105 - local stack only, not a credential

# Names that never reach a public host: localhost (RFC 6761), mDNS (.local), and other special-use or private
# suffixes (RFC 6761, RFC 8375, ICANN's .internal).
_PRIVATE_SUFFIXES = ("localhost", "local", "localdomain", "internal", "test", "invalid", "home.arpa", "lan")


class SettingsError(RuntimeError):
    """The environment's settings may not run in this stage; the message names the environment variables.

    Not a ValueError, so pydantic passes it through unwrapped: the cold-start error reads as written.
    """


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: Stage = "local"
    region: str = "us-east-1"
    table_name: str = "kindling-local"
    kms_key_id: str | None = None
    check_queue_url: str | None = None
    send_queue_url: str | None = None
    sync_queue_url: str | None = None
    webhook_queue_url: str | None = None
    job_state_machine_arn: str | None = None
    rate_limit_per_minute: int = Field(default=60, ge=1)
    mailbox_test_rate_limit_per_minute: int = Field(default=10, ge=1)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # The local stack allows private/loopback targets for customer URLs (invariant 7); deployed stages do not.
    allow_private_targets: bool = False
    # Where tracking, click and unsubscribe links point (see link_base_url); deployed: a public https URL.
    public_base_url: str | None = None
    tracking_secret: str | None = None
    # Provider detection may look up MX records; off where no DNS must be queried (API fuzzing, offline runs).
    mx_lookups: bool = True
    # Extra CA bundle trusted for mailbox SMTP/IMAP connections (the local mail lab's CA); system CAs still apply.
    mail_ca_file: str | None = None
    # botocore's endpoint override: the local stack points every AWS call at moto with it.
    aws_endpoint_url: str | None = None

    @property
    def is_deployed(self) -> bool:
        return self.stage in DEPLOYED_STAGES

    @model_validator(mode="after")
    def _deployed_stages_refuse_local_values(self) -> Settings:
        if self.is_deployed:
            problems = local_only_values(self)
            if problems:
                raise SettingsError(
                    f"stage {self.stage!r} refuses settings that only make sense locally: " + "; ".join(problems)
                )
        return self

    def link_base_url(self) -> str:
        """The base of every link an email carries. A deployed stage has no fallback: a function that builds
        links without KINDLING_PUBLIC_BASE_URL refuses (its value, when set, was checked at construction)."""
        if self.public_base_url:
            return self.public_base_url
        if not self.is_deployed:
            return LOCAL_BASE_URL
        raise SettingsError(
            f"stage {self.stage!r} needs {_ENV['public_base_url']} (a public https URL) to build tracking and "
            "unsubscribe links; the template sets it from PublicBaseUrl or the HTTP API's own URL"
        )


def public_url_problem(url: str) -> str | None:
    """Why a URL cannot be the public base of links in a deployed stage (None when it can)."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme != "https":
        return "must be an https URL"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.query or parts.fragment:
        return "must not carry a query or fragment"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return "points at a loopback, private, link-local or reserved address"
        return None
    if "." not in host or any(host == s or host.endswith("." + s) for s in _PRIVATE_SUFFIXES):
        return "is not a public host name"
    return None


def local_only_values(settings: Settings) -> list[str]:
    """The settings that only make sense on the local stack or in tests, each as `ENV_NAME=value: why`."""
    problems: list[str] = []
    if settings.allow_private_targets:
        problems.append(f"{_ENV['allow_private_targets']}=true: private and loopback targets are local-only")
    if settings.mail_ca_file is not None:
        problems.append(
            f"{_ENV['mail_ca_file']}={settings.mail_ca_file}: an extra mail CA is the local mail lab's; "
            "deployed stages trust the system CAs only"
        )
    if not settings.mx_lookups:
        problems.append(f"{_ENV['mx_lookups']}=false: provider detection needs MX lookups outside offline runs")
    if settings.aws_endpoint_url is not None:
        problems.append(f"{_ENV['aws_endpoint_url']}={settings.aws_endpoint_url}: AWS calls go to AWS")
    if settings.tracking_secret == LOCAL_TRACKING_SECRET:
        problems.append(f"{_ENV['tracking_secret']} is the local stack's published secret")
    if settings.public_base_url is not None:
        reason = public_url_problem(settings.public_base_url)
        if reason is not None:
            problems.append(f"{_ENV['public_base_url']}={settings.public_base_url} {reason}")
    return problems


_ENV = {
    "stage": "KINDLING_STAGE",
    "region": "AWS_REGION",
    "table_name": "KINDLING_TABLE_NAME",
    "kms_key_id": "KINDLING_KMS_KEY_ID",
    "check_queue_url": "KINDLING_CHECK_QUEUE_URL",
    "send_queue_url": "KINDLING_SEND_QUEUE_URL",
    "sync_queue_url": "KINDLING_SYNC_QUEUE_URL",
    "webhook_queue_url": "KINDLING_WEBHOOK_QUEUE_URL",
    "job_state_machine_arn": "KINDLING_JOB_STATE_MACHINE_ARN",
    "rate_limit_per_minute": "KINDLING_RATE_LIMIT_PER_MINUTE",
    "mailbox_test_rate_limit_per_minute": "KINDLING_MAILBOX_TEST_RATE_LIMIT_PER_MINUTE",
    "idempotency_ttl_seconds": "KINDLING_IDEMPOTENCY_TTL_SECONDS",
    "allow_private_targets": "KINDLING_ALLOW_PRIVATE_TARGETS",
    "public_base_url": "KINDLING_PUBLIC_BASE_URL",
    "tracking_secret": "KINDLING_TRACKING_SECRET",
    "mx_lookups": "KINDLING_MX_LOOKUPS",
    "mail_ca_file": "KINDLING_MAIL_CA_FILE",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[var] for field, var in _ENV.items() if env.get(var) not in (None, "")}
    if "region" not in values and env.get("AWS_DEFAULT_REGION"):
        values["region"] = env["AWS_DEFAULT_REGION"]
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated on first use (cold start)."""
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
