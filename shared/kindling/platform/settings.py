"""Settings read once from the environment into a validated model (lazily, never at import time).

A deployed stage refuses, at construction, every value that only makes sense on the local stack or in tests
(invariant no-local-values-deployed; the rules are in kindling.platform.stage_guard). Every function reads its
settings on first use, so a misconfigured stage fails at cold start, naming the offending environment variables.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kindling.platform.stage_guard import DEPLOYED_STAGES, LOCAL_BASE_URL, local_only_problems, refuse
from kindling.platform.stage_guard import SettingsError as SettingsError

Stage = Literal["local", "dev", "staging", "prod", "test"]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: Stage = "local"
    region: str = "us-east-1"
    table_name: str = "kindling-local"
    kms_key_id: str | None = None
    check_queue_url: str | None = None
    send_queue_url: str | None = None
    linkedin_action_queue_url: str | None = None
    sync_queue_url: str | None = None
    webhook_queue_url: str | None = None
    job_state_machine_arn: str | None = None
    rate_limit_per_minute: int = Field(default=60, ge=1)
    mailbox_test_rate_limit_per_minute: int = Field(default=10, ge=1)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # The local stack allows private/loopback targets for customer URLs (invariant no-private-targets); deployed
    # stages do not.
    allow_private_targets: bool = False
    # Where tracking, click and unsubscribe links point (see link_base_url); deployed: a public https URL.
    public_base_url: str | None = None
    tracking_secret: str | None = None
    # Provider detection may look up MX records; off where no DNS must be queried (API fuzzing, offline runs).
    mx_lookups: bool = True
    # Extra CA bundle trusted for mailbox SMTP/IMAP connections (the local mail lab's CA); system CAs still apply.
    mail_ca_file: str | None = None
    # Notification emails (mailbox outages, Bounce Shield) go out through SES from this verified address when set;
    # otherwise through one of the workspace's own connected mailboxes (kindling.notifications).
    notification_ses_sender: str | None = None
    # botocore's endpoint override: the local stack points every AWS call at moto with it.
    aws_endpoint_url: str | None = None
    # The LinkedIn provider (Unipile): its base URL with the API prefix (the DSN, e.g.
    # https://api8.unipile.com:13851/api/v1; the local stack's emulator on 127.0.0.1), its API key (deployed: a
    # Secrets Manager secret named by ARN; locally: a plain value), and the per-stack secret its webhooks carry.
    linkedin_provider_url: str | None = None
    linkedin_provider_api_key: str | None = None
    linkedin_provider_secret_arn: str | None = None
    linkedin_webhook_secret: str | None = None
    # Where the provider's webhooks go: this stack's POST /linkedin/provider/webhook (deployed: the template sets
    # it from the HTTP API's URL; a public https URL). kindling.linkedin.webhooks registers them there.
    linkedin_webhook_url: str | None = None

    @property
    def is_deployed(self) -> bool:
        return self.stage in DEPLOYED_STAGES

    @model_validator(mode="after")
    def _deployed_stages_refuse_local_values(self) -> Settings:
        if self.is_deployed:
            problems = local_only_problems(
                allow_private_targets=self.allow_private_targets,
                mail_ca_file=self.mail_ca_file,
                mx_lookups=self.mx_lookups,
                aws_endpoint_url=self.aws_endpoint_url,
                tracking_secret=self.tracking_secret,
                public_base_url=self.public_base_url,
                linkedin_provider_url=self.linkedin_provider_url,
                linkedin_provider_api_key=self.linkedin_provider_api_key,
                linkedin_webhook_secret=self.linkedin_webhook_secret,
                linkedin_webhook_url=self.linkedin_webhook_url,
            )
            refuse(self.stage, problems)
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


_ENV = {
    "stage": "KINDLING_STAGE",
    "region": "AWS_REGION",
    "table_name": "KINDLING_TABLE_NAME",
    "kms_key_id": "KINDLING_KMS_KEY_ID",
    "check_queue_url": "KINDLING_CHECK_QUEUE_URL",
    "send_queue_url": "KINDLING_SEND_QUEUE_URL",
    "linkedin_action_queue_url": "KINDLING_LINKEDIN_ACTION_QUEUE_URL",
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
    "notification_ses_sender": "KINDLING_NOTIFICATION_SES_SENDER",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "linkedin_provider_url": "KINDLING_LINKEDIN_PROVIDER_URL",
    "linkedin_provider_api_key": "KINDLING_LINKEDIN_PROVIDER_API_KEY",
    "linkedin_provider_secret_arn": "KINDLING_LINKEDIN_PROVIDER_SECRET_ARN",
    "linkedin_webhook_secret": "KINDLING_LINKEDIN_WEBHOOK_SECRET",
    "linkedin_webhook_url": "KINDLING_LINKEDIN_WEBHOOK_URL",
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
