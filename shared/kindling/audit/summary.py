"""Sanitised summaries of tool arguments for the audit log: enough to tell calls apart, nothing personal.

The rule (a pure function, table-tested in tests/unit/audit/test_summary.py):
- an email address becomes its domain and a short hash of the whole address (`{"domain", "sha256"}`);
- a URL becomes its host only; a phone number, a name, a subject, a body or any other free text becomes its length
  and a short hash (`{"chars", "sha256"}`);
- ids (`prs_...`, uuids), dates, booleans and numbers pass, and so do short tokens in the enum-like fields
  (`ENUM_FIELDS`: status, label, type...); a lowercase word anywhere else is treated as text (it may be a name);
- `idempotency_key` becomes its hash;
- a list becomes its count plus (for lists of emails) the distinct domains, at most ten; a dict is summarised key
  by key (keys are schema field names, kept), nested at most three levels.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_EMAIL = re.compile(r"^[^@\s/:]+@([^@\s/:]+\.[^@\s/:]+)$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://([^/?#\s]+)", re.IGNORECASE)
_ID = re.compile(
    r"^(?:[a-z]{2,5}_(?=[0-9a-z]*\d)[0-9a-z]{6,40}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_TOKEN = re.compile(r"^[A-Za-z][A-Za-z0-9_:./+-]{0,39}$")
ENUM_FIELDS = frozenset(
    {
        "status",
        "global_status",
        "globalStatus",
        "label",
        "label_override",
        "type",
        "channel",
        "format",
        "warmup_type",
        "warmup_strategy",
        "warmup_timezone",
        "timezone",
        "rotation_mode",
        "rotationMode",
        "scope",
    }
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")
MAX_DEPTH = 3
MAX_DOMAINS = 10


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def summarise_value(value: Any, depth: int = 0, field: str = "") -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _summarise_text(value, enum_like=field in ENUM_FIELDS)
    if depth >= MAX_DEPTH:
        return {"type": type(value).__name__}
    if isinstance(value, dict):
        return {str(k)[:64]: summarise_value(v, depth + 1, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return _summarise_list(list(value), depth)
    return {"type": type(value).__name__}


def _summarise_text(text: str, *, enum_like: bool) -> Any:
    stripped = text.strip()
    url = _URL.match(stripped)
    if url:
        host = url.group(1).rsplit("@", 1)[-1]  # never a user:password@ part
        return {"url_host": host.lower()}
    email = _EMAIL.match(stripped)
    if email:
        return {"domain": email.group(1).lower(), "sha256": short_hash(stripped.lower())}
    if _ID.match(stripped) or _DATE.match(stripped) or (enum_like and _TOKEN.match(stripped)):
        return stripped
    return {"chars": len(text), "sha256": short_hash(text)}


def _summarise_list(items: list[Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"count": len(items)}
    strings = [item.strip() for item in items if isinstance(item, str)]
    domains = sorted({m.group(1).lower() for m in (_EMAIL.match(s) for s in strings) if m})
    if domains:
        out["domains"] = domains[:MAX_DOMAINS]
    elif strings and all(_ID.match(s) for s in strings):
        out["ids"] = strings[:MAX_DOMAINS]
    elif items and all(isinstance(item, dict) for item in items):
        out["first"] = summarise_value(items[0], depth + 1)
    return out


def summarise_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """The audit form of a tool call's arguments (see the module's rule). `idempotency_key` becomes its hash."""
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        if name == "idempotency_key" and isinstance(value, str):
            out[name] = {"sha256": short_hash(value)}
        else:
            out[str(name)[:64]] = summarise_value(value, 1, str(name))
    return out
