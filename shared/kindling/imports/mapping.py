"""Column mapping: the alias table of inventory 26.6, suggestions, validation, and row -> prospect fields."""

from __future__ import annotations

import re
from typing import Any

from kindling.platform.errors import ValidationFailed, field_error
from kindling.platform.text import fold_lines
from kindling.prospects.fields import BUILTIN_FIELDS, sanitize_custom_key

CUSTOM_PREFIX = "custom:"
SKIP = "skip"

# Header names are compared squashed: lowercase, without spaces, underscores and hyphens.
ALIASES: dict[str, str] = {
    # inventory 26.6
    "email": "email",  # also "e-mail", "e_mail"
    "firstname": "firstName",  # "first name", "first_name"
    "lastname": "lastName",
    "companyname": "company",
    "title": "role",
    "jobtitle": "role",
    "position": "role",
    "telephone": "phone",
    "mobile": "phone",
    "linkedin": "linkedinUrl",
    "linkedinurl": "linkedinUrl",
    "linkedinprofile": "linkedinUrl",
    # the built-in names themselves (inventory 11.4), in any case or spelling
    **{field.lower(): field for field in BUILTIN_FIELDS},
    # common spellings
    "emailaddress": "email",
}

_SQUASH = re.compile(r"[\s_\-]+")


def squash(header: str) -> str:
    return _SQUASH.sub("", header.strip().lower())


def custom_target(name: str) -> str:
    return CUSTOM_PREFIX + sanitize_custom_key(name)


def suggest_one(column: str) -> str:
    if column.strip().lower().startswith(CUSTOM_PREFIX):
        return custom_target(column.strip()[len(CUSTOM_PREFIX) :])
    return ALIASES.get(squash(column)) or custom_target(column)


def suggest(columns: list[str]) -> dict[str, str]:
    """Each column's suggested target; a built-in field goes to its first matching column only."""
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for column in columns:
        target = suggest_one(column)
        if target in BUILTIN_FIELDS:
            if target in taken:
                target = custom_target(column)
            taken.add(target)
        mapping[column] = target
    return mapping


def has_identity(mapping: dict[str, str | None]) -> bool:
    targets = set(mapping.values())
    return "email" in targets or "linkedinUrl" in targets


def resolve(columns: list[str], overrides: dict[str, str | None] | None) -> dict[str, str | None]:
    """The confirmed mapping: the suggestion overridden column by column (None or "skip" ignores a column)."""
    mapping: dict[str, str | None] = dict(suggest(columns))
    errors: list[dict[str, Any]] = []
    for column, target in (overrides or {}).items():
        if column not in mapping:
            errors.append(field_error(f"mapping.{column}", "no such column in the file", "unknown_column"))
            continue
        if target is None or target == SKIP:
            mapping[column] = None
        elif target in BUILTIN_FIELDS:
            mapping[column] = target
        elif target.startswith(CUSTOM_PREFIX) and sanitize_custom_key(target[len(CUSTOM_PREFIX) :]).strip("_"):
            mapping[column] = custom_target(target[len(CUSTOM_PREFIX) :])
        else:
            errors.append(
                field_error(
                    f"mapping.{column}",
                    f"unknown target {target!r}: use a built-in field, 'custom:<name>' or 'skip'",
                    "unknown_field",
                )
            )
    if not errors:
        for column, target in (overrides or {}).items():
            if target in BUILTIN_FIELDS:
                # An explicit choice wins over a suggestion of the same field on another column.
                for other, other_target in mapping.items():
                    if other != column and other_target == target and other not in (overrides or {}):
                        mapping[other] = custom_target(other)
        counts: dict[str, int] = {}
        for target in mapping.values():
            if target in BUILTIN_FIELDS:
                counts[target] = counts.get(target, 0) + 1
        for target, count in counts.items():
            if count > 1:
                errors.append(field_error("mapping", f"{count} columns map to {target}", "duplicate_target"))
    if not errors and not has_identity(mapping):
        errors.append(
            field_error(
                "mapping", "one column must map to email (or linkedinUrl for LinkedIn-only prospects)", "missing_email"
            )
        )
    if errors:
        raise ValidationFailed("The column mapping is invalid.", details=errors)
    return mapping


_FIELD_NAMES = {
    "firstName": "first_name",
    "lastName": "last_name",
    "linkedinUrl": "linkedin_url",
}


def row_fields(columns: list[str], mapping: dict[str, str | None], cells: list[str]) -> dict[str, Any]:
    """A row as ProspectCreate input (snake_case names); empty cells are left out.

    A built-in field is one line (it can reach a mail header), so a multi-line spreadsheet cell mapped to one has
    its line breaks and tabs folded into spaces; custom fields keep them. Other control characters are the
    row's error (ProspectCreate refuses them)."""
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for column, value in zip(columns, cells, strict=True):
        target = mapping.get(column)
        value = value.strip()
        if target is None or not value:
            continue
        if target.startswith(CUSTOM_PREFIX):
            custom[target[len(CUSTOM_PREFIX) :]] = value
        else:
            fields[_FIELD_NAMES.get(target, target)] = fold_lines(value)
    if custom:
        fields["custom_fields"] = custom
    return fields
