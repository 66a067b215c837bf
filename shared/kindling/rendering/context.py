"""The values one message is rendered with: the prospect, its custom fields, the sending mailbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kindling.rendering.html import HTML_TAG, clean, html_plan, html_to_text, text_to_html, without_controls
from kindling.rendering.names import BUILTIN_TAGS, custom_lookup_key

# The prospect's built-in fields by their API (camelCase) and snake_case names.
_PROSPECT_KEYS: dict[str, str] = {**BUILTIN_TAGS, **{tag: tag for tag in BUILTIN_TAGS.values()}}
_NESTED_CUSTOM = ("customFields", "custom_fields")
# Sender mapping key -> (tag, rank): the lowest rank present wins (sender_name before display_name ...).
_SENDER_KEYS: dict[str, tuple[str, int]] = {
    **{k: ("sender_name", r) for r, k in enumerate(("sender_name", "from_name", "display_name", "name"))},
    **{k: ("sender_name", r) for r, k in enumerate(("senderName", "fromName", "displayName"))},
    **{k: ("sender_first_name", r) for r, k in enumerate(("sender_first_name", "first_name"))},
    **{k: ("sender_first_name", r) for r, k in enumerate(("senderFirstName", "firstName"))},
    **{k: ("sender_email", r) for r, k in enumerate(("sender_email", "email_address", "email", "from_email"))},
    **{k: ("sender_email", r) for r, k in enumerate(("senderEmail", "emailAddress", "fromEmail"))},
}


@dataclass(frozen=True, slots=True)
class RenderContext:
    """`values`: lookup key -> value (built-in and sender tags by canonical name, custom fields by
    `custom_lookup_key`); a key present with a blank value is "empty", an absent custom key is "unresolved".
    `trusted`: tags whose value is sanitised HTML to insert as is into HTML text (the signature)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    trusted: Mapping[str, str] = field(default_factory=dict)


@lru_cache(maxsize=512)
def prepare_signature(signature: str) -> tuple[str, str]:
    """(sanitised HTML, plain text) of a mailbox signature; one written without tags is plain text."""
    signature = without_controls(signature)
    if HTML_TAG.search(signature):
        markup = html_plan(clean(signature), 0, None).fmt.format()
    else:
        markup = text_to_html(signature.strip())
    return markup, html_to_text(markup)


def build_context(
    prospect: Mapping[str, Any] | None = None,
    *,
    custom_fields: Mapping[str, Any] | None = None,
    sender: Mapping[str, Any] | None = None,
    unsubscribe_url: str | None = None,
) -> RenderContext:
    """Prospect fields use the API names (firstName, lastName, company, ...; snake_case works too) and may carry
    `customFields`; `custom_fields` adds to / overrides those. Sender: sender_name (or from_name/display_name),
    sender_first_name (else the first word of the name), sender_email (or email/email_address), signature (HTML
    or plain text; sanitised here)."""
    values: dict[str, Any] = {}
    trusted: dict[str, str] = {}
    nested: Mapping[str, Any] | None = None
    if prospect:
        for key, value in prospect.items():
            tag = _PROSPECT_KEYS.get(key)
            if tag is not None:
                values[tag] = value
            elif key in _NESTED_CUSTOM and isinstance(value, dict | Mapping):
                nested = value
    for source in (nested, custom_fields):
        if source:
            for key, value in source.items():
                values[custom_lookup_key(str(key))] = value
    if sender:
        ranks: dict[str, int] = {}
        for key, value in sender.items():
            slot = _SENDER_KEYS.get(key)
            if slot is not None and value is not None and value != "" and ranks.get(slot[0], 99) > slot[1]:
                values[slot[0]] = value
                ranks[slot[0]] = slot[1]
        name = values.get("sender_name")
        if "sender_first_name" not in values and isinstance(name, str) and name.strip():
            values["sender_first_name"] = name.split()[0]
        signature = sender.get("signature")
        if isinstance(signature, str) and signature.strip():
            markup, text = prepare_signature(signature)
            values["signature"] = text
            if markup:
                trusted["signature"] = markup
    if unsubscribe_url:
        values["unsubscribe_url"] = unsubscribe_url
    return RenderContext(values, trusted)
