"""Invariant no-local-values-deployed: settings that only make sense locally cannot be carried into a deployed stage.

The rules, in the standard library only: `kindling.platform.settings` applies them when its model is built, and a
function that serves requests without loading Settings (the tracking function's lean open/click path) applies
them to the raw environment with `check_environment`. Either way a deployed stage (dev, staging, prod) refuses,
at cold start, private/loopback targets, an extra mail CA (the mail lab's), MX lookups switched off, an AWS
endpoint override, the local stack's tracking secret, a public base URL that is not a public https URL, a
LinkedIn provider URL that is not a public https URL (the local emulator's), a provider API key in plain
environment (deployed stages read it from Secrets Manager), the local provider webhook secret and a provider
webhook ingress URL that is not a public https URL, with one
`SettingsError` naming every offending environment variable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

DEPLOYED_STAGES = ("dev", "staging", "prod")

# Where links point on the local stack and in tests when nothing else is configured (the local API's port).
LOCAL_BASE_URL = "http://127.0.0.1:3000"
# The local stack's tracking secret (devstack sets the same value): public knowledge, never a deployed stage's.
LOCAL_TRACKING_SECRET = "kindling-local-tracking-secret"  # noqa: S105 - local stack only, not a credential
# The local stack's LinkedIn provider webhook secret (devstack sets the same value): never a deployed stage's.
LOCAL_LINKEDIN_WEBHOOK_SECRET = "kindling-local-linkedin-webhook-secret"  # noqa: S105 - local stack only

# Names that never reach a public host: localhost and other special-use names (RFC 6761), mDNS's .local, the
# home network's home.arpa (RFC 8375), ICANN's private-use .internal, and the habitual .localdomain and .lan.
_PRIVATE_SUFFIXES = ("localhost", "local", "localdomain", "internal", "test", "invalid", "home.arpa", "lan")
# How pydantic reads a boolean from the environment.
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


class SettingsError(RuntimeError):
    """The environment's settings may not run in this stage; the message names the environment variables.

    Not a ValueError, so pydantic passes it through unwrapped: the cold-start error reads as written.
    """


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


def local_only_problems(
    *,
    allow_private_targets: bool,
    mail_ca_file: str | None,
    mx_lookups: bool,
    aws_endpoint_url: str | None,
    tracking_secret: str | None,
    public_base_url: str | None,
    linkedin_provider_url: str | None = None,
    linkedin_provider_api_key: str | None = None,
    linkedin_webhook_secret: str | None = None,
    linkedin_webhook_url: str | None = None,
) -> list[str]:
    """The values that only make sense on the local stack or in tests, each as `ENV_NAME=value: why`."""
    problems: list[str] = []
    if allow_private_targets:
        problems.append("KINDLING_ALLOW_PRIVATE_TARGETS=true: private and loopback targets are local-only")
    if mail_ca_file is not None:
        problems.append(
            f"KINDLING_MAIL_CA_FILE={mail_ca_file}: an extra mail CA is the local mail lab's; "
            "deployed stages trust the system CAs only"
        )
    if not mx_lookups:
        problems.append("KINDLING_MX_LOOKUPS=false: provider detection needs MX lookups outside offline runs")
    if aws_endpoint_url is not None:
        problems.append(f"AWS_ENDPOINT_URL={aws_endpoint_url}: AWS calls go to AWS")
    if tracking_secret == LOCAL_TRACKING_SECRET:
        problems.append("KINDLING_TRACKING_SECRET is the local stack's published secret")
    if public_base_url is not None:
        reason = public_url_problem(public_base_url)
        if reason is not None:
            problems.append(f"KINDLING_PUBLIC_BASE_URL={public_base_url} {reason}")
    if linkedin_provider_url is not None:
        reason = public_url_problem(linkedin_provider_url)
        if reason is not None:
            problems.append(
                f"KINDLING_LINKEDIN_PROVIDER_URL={linkedin_provider_url} {reason} (the emulator is local-only)"
            )
    if linkedin_provider_api_key is not None:
        problems.append(
            "KINDLING_LINKEDIN_PROVIDER_API_KEY is set: deployed stages read the provider's API key from Secrets "
            "Manager (KINDLING_LINKEDIN_PROVIDER_SECRET_ARN)"
        )
    if linkedin_webhook_secret == LOCAL_LINKEDIN_WEBHOOK_SECRET:
        problems.append("KINDLING_LINKEDIN_WEBHOOK_SECRET is the local stack's published secret")
    if linkedin_webhook_url is not None:
        reason = public_url_problem(linkedin_webhook_url)
        if reason is not None:
            problems.append(
                f"KINDLING_LINKEDIN_WEBHOOK_URL={linkedin_webhook_url} {reason} (the provider must reach the "
                "stack's ingress over public https)"
            )
    return problems


def refuse(stage: str, problems: list[str]) -> None:
    if problems:
        raise SettingsError(f"stage {stage!r} refuses settings that only make sense locally: " + "; ".join(problems))


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return not default  # unreadable: the full settings refuse it; here, assume the non-default


def check_environment(environ: Mapping[str, str]) -> None:
    """The same rules on the raw environment (empty means unset, as `load_settings` reads it)."""
    stage = environ.get("KINDLING_STAGE") or "local"
    if stage not in DEPLOYED_STAGES:
        return
    refuse(
        stage,
        local_only_problems(
            allow_private_targets=_flag(environ.get("KINDLING_ALLOW_PRIVATE_TARGETS"), False),
            mail_ca_file=environ.get("KINDLING_MAIL_CA_FILE") or None,
            mx_lookups=_flag(environ.get("KINDLING_MX_LOOKUPS"), True),
            aws_endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
            tracking_secret=environ.get("KINDLING_TRACKING_SECRET") or None,
            public_base_url=environ.get("KINDLING_PUBLIC_BASE_URL") or None,
            linkedin_provider_url=environ.get("KINDLING_LINKEDIN_PROVIDER_URL") or None,
            linkedin_provider_api_key=environ.get("KINDLING_LINKEDIN_PROVIDER_API_KEY") or None,
            linkedin_webhook_secret=environ.get("KINDLING_LINKEDIN_WEBHOOK_SECRET") or None,
            linkedin_webhook_url=environ.get("KINDLING_LINKEDIN_WEBHOOK_URL") or None,
        ),
    )
