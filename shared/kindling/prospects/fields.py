"""Pure field rules shared by the API and the CSV import: email normalisation, custom-field keys, placeholders."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from kindling.platform.settings import get_settings

BUILTIN_FIELDS: tuple[str, ...] = (
    "email",
    "firstName",
    "lastName",
    "company",
    "role",
    "phone",
    "linkedinUrl",
    "website",
    "country",
    "city",
    "industry",
)
CUSTOM_KEY_MAX = 30
PLACEHOLDER_DOMAIN = "noemail.warmysender.com"  # inventory 26.5: li.<username>@noemail.warmysender.com

_NON_ALNUM = re.compile(r"[^a-z0-9]")
_LINKEDIN_USER = re.compile(r"linkedin\.com/(?:in|pub)/([^/?#\s]+)", re.IGNORECASE)
_PLACEHOLDER_SAFE = re.compile(r"[^a-z0-9._-]")


class InvalidEmail(ValueError):
    """The address is not a syntactically valid email address."""


def normalize_email(raw: str) -> str:
    """Validate the syntax (no network) and return the canonical, lowercase form used for dedupe and keys."""
    candidate = raw.strip()
    if not candidate:
        raise InvalidEmail("The email address is empty.")
    try:
        # The local stack's mail lab uses special-use domains (`.test`); deployed stages refuse them.
        result = validate_email(candidate, check_deliverability=False, test_environment=not get_settings().is_deployed)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    return result.normalized.lower()


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1]


def sanitize_custom_key(raw: str) -> str:
    """Inventory 11.5: lowercase; every non-alphanumeric character becomes `_`; at most 30 characters."""
    return _NON_ALNUM.sub("_", raw.strip().lower())[:CUSTOM_KEY_MAX]


def linkedin_username(url: str) -> str | None:
    match = _LINKEDIN_USER.search(url)
    if not match:
        return None
    username = _PLACEHOLDER_SAFE.sub("", match.group(1).lower()).strip(".-")
    return username or None


def placeholder_email(linkedin_url: str) -> str:
    """The stand-in address of a LinkedIn-only prospect (inventory 26.5)."""
    username = linkedin_username(linkedin_url)
    if username is None:
        raise InvalidEmail("The LinkedIn URL has no profile name (expected linkedin.com/in/<name>).")
    return f"li.{username}@{PLACEHOLDER_DOMAIN}"


def is_placeholder(email: str) -> bool:
    return email.endswith("@" + PLACEHOLDER_DOMAIN)
