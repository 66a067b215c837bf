"""Merge-tag names: every spelling of a tag resolves to one canonical name (Reachkit's name normalisation).

Names are compared *squashed*: sanitised like a custom-field key (lowercase, every non-alphanumeric character
becomes `_`, inventory 11.5) and then without the underscores. So `{{First Name}}`, `{{first_name}}`,
`{{firstName}}`, `{{FIRSTNAME}}` and `{{first-name}}` are all `first_name`. A bare name that is not a built-in,
sender or system tag is a custom field (inventory 11.3): `{{department}}` is `custom.department`.

The canonical names:
- built-in prospect fields (inventory 11.4) in snake_case, plus the importer's aliases of inventory 26.6
  (`{{title}}` is `role`, `{{companyName}}` is `company`, ...), because a CSV column of that name was mapped there;
- sender tags from the sending mailbox (inventory 11.8): `sender_name`, `sender_first_name`, `sender_email`,
  `signature`;
- system tags: `unsubscribe_url`;
- custom fields: `custom.<key>`, the key sanitised as the importer sanitises column names.
"""

from __future__ import annotations

from functools import lru_cache

from kindling.prospects.fields import BUILTIN_FIELDS, sanitize_custom_key

CUSTOM_PREFIX = "custom."

# API field name (camelCase, inventory 11.4) -> canonical snake_case tag name.
BUILTIN_TAGS: dict[str, str] = {
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "company": "company",
    "role": "role",
    "phone": "phone",
    "linkedinUrl": "linkedin_url",
    "website": "website",
    "country": "country",
    "city": "city",
    "industry": "industry",
}
assert set(BUILTIN_TAGS) == set(BUILTIN_FIELDS), "the tag table must follow kindling.prospects.fields"

SENDER_TAGS: tuple[str, ...] = ("sender_name", "sender_first_name", "sender_email", "signature")
SYSTEM_TAGS: tuple[str, ...] = ("unsubscribe_url",)

# The signature is the sending mailbox's HTML (inventory 11.8); every other value is text.
TRUSTED_HTML_TAGS: frozenset[str] = frozenset({"signature"})


def squash(name: str) -> str:
    """The comparison form of a name: sanitised like a custom key, then without underscores."""
    return sanitize_custom_key(name).replace("_", "")


_TAG_BY_SQUASHED: dict[str, str] = {
    **{squash(api): tag for api, tag in BUILTIN_TAGS.items()},
    # inventory 26.6: the importer maps these columns onto built-in fields
    "emailaddress": "email",
    "companyname": "company",
    "title": "role",
    "jobtitle": "role",
    "position": "role",
    "telephone": "phone",
    "mobile": "phone",
    "linkedin": "linkedin_url",
    "linkedinprofile": "linkedin_url",
    # sender tags; `from_name`/`display_name` are the mailbox's own spellings
    "sendername": "sender_name",
    "fromname": "sender_name",
    "senderdisplayname": "sender_name",
    "senderfirstname": "sender_first_name",
    "senderemail": "sender_email",
    "fromemail": "sender_email",
    "signature": "signature",
    "sendersignature": "signature",
    "unsubscribeurl": "unsubscribe_url",
    "unsubscribelink": "unsubscribe_url",
}

KNOWN_TAGS: frozenset[str] = frozenset(_TAG_BY_SQUASHED.values())


@lru_cache(maxsize=4096)
def known_tag(name: str) -> str | None:
    """The canonical built-in, sender or system tag a bare name spells, or None (then it is a custom field)."""
    return _TAG_BY_SQUASHED.get(squash(name))


@lru_cache(maxsize=8192)
def custom_lookup_key(key: str) -> str:
    """How a custom field is found in a render context: squashed, so `planTier` finds the column `plan_tier`."""
    return CUSTOM_PREFIX + squash(key)


def split_custom_prefix(name: str) -> str | None:
    """`custom.x` / `custom:x` (any case) -> `x`; None when the name has no custom prefix."""
    stripped = name.strip()
    if len(stripped) > 7 and stripped[:6].lower() == "custom" and stripped[6] in ".:":
        return stripped[7:].strip()
    return None
