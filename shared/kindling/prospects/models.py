"""Prospect and list shapes (camelCase, as the reference's Prospects section)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kindling.platform.models import PatchModel
from kindling.platform.text import SingleLine, control_character
from kindling.prospects.fields import InvalidEmail, normalize_email, placeholder_email, sanitize_custom_key

GlobalStatus = Literal["active", "unsubscribed", "bounced", "suppressed", "invalid"]
GLOBAL_STATUSES: tuple[str, ...] = ("active", "unsubscribed", "bounced", "suppressed", "invalid")
# A prospect in one of these statuses is never emailed (the suppression check reports it).
BLOCKING_STATUSES: frozenset[str] = frozenset({"unsubscribed", "bounced", "suppressed", "invalid"})

MAX_CUSTOM_FIELDS = 50
MAX_TEXT = 500
MAX_CUSTOM_VALUE = 2000

CustomValue = str | int | float | bool | None
# Built-in fields reach mail headers (the recipient's name, template variables in subjects) and log lines.
Text = SingleLine | None


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def clean_custom_fields(value: dict[str, Any] | None) -> dict[str, CustomValue] | None:
    """Sanitise keys (inventory 11.5); refuse keys that sanitise to nothing and oversized values."""
    if value is None:
        return None
    if len(value) > MAX_CUSTOM_FIELDS:
        raise ValueError(f"at most {MAX_CUSTOM_FIELDS} custom fields")
    cleaned: dict[str, CustomValue] = {}
    for raw_key, item in value.items():
        key = sanitize_custom_key(str(raw_key))
        if not key.strip("_"):
            raise ValueError(f"custom field name {raw_key!r} has no letters or digits")
        if isinstance(item, str) and len(item) > MAX_CUSTOM_VALUE:
            raise ValueError(f"custom field {key!r} is longer than {MAX_CUSTOM_VALUE} characters")
        if isinstance(item, str) and (bad := control_character(item, multiline=True)) is not None:
            raise ValueError(f"custom field {key!r} has a control character ({bad}); only tab and line breaks may")
        cleaned[key] = item
    return cleaned


def _strip(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class ProspectFields(_Camel):
    """The built-in fields (inventory 11.4) other than email, plus custom fields."""

    first_name: Text = Field(default=None, max_length=MAX_TEXT)
    last_name: Text = Field(default=None, max_length=MAX_TEXT)
    company: Text = Field(default=None, max_length=MAX_TEXT)
    role: Text = Field(default=None, max_length=MAX_TEXT)
    phone: Text = Field(default=None, max_length=100)
    linkedin_url: Text = Field(default=None, max_length=MAX_TEXT)
    website: Text = Field(default=None, max_length=MAX_TEXT)
    country: Text = Field(default=None, max_length=MAX_TEXT)
    city: Text = Field(default=None, max_length=MAX_TEXT)
    industry: Text = Field(default=None, max_length=MAX_TEXT)
    custom_fields: dict[str, CustomValue] | None = None

    @field_validator(
        "first_name",
        "last_name",
        "company",
        "role",
        "phone",
        "linkedin_url",
        "website",
        "country",
        "city",
        "industry",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return _strip(value)

    @field_validator("custom_fields")
    @classmethod
    def _custom(cls, value: dict[str, Any] | None) -> dict[str, CustomValue] | None:
        return clean_custom_fields(value)


TEXT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "company",
    "role",
    "phone",
    "linkedin_url",
    "website",
    "country",
    "city",
    "industry",
)


class ProspectCreate(ProspectFields):
    """POST /api/v1/prospects. `email` is required unless `linkedinUrl` is given (LinkedIn-only prospect)."""

    email: str | None = Field(default=None, max_length=320)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalize_email(value)
        except InvalidEmail as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _email_or_linkedin(self) -> ProspectCreate:
        if self.email is not None:
            pass
        elif self.linkedin_url:
            try:
                self.email = placeholder_email(self.linkedin_url)
            except InvalidEmail as exc:
                raise ValueError(f"linkedinUrl: {exc}") from exc
        else:
            raise ValueError("email is required (or linkedinUrl for a LinkedIn-only prospect)")
        return self

    @property
    def normalized_email(self) -> str:
        assert self.email is not None
        return self.email


class ProspectUpdate(ProspectFields, PatchModel):
    """PATCH /api/v1/prospects/{id}: only the fields present change; null clears a field (not `globalStatus`)."""

    global_status: GlobalStatus | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("global_status",)


class Prospect(BaseModel):
    id: str
    workspace_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    role: str | None = None
    phone: str | None = None
    linkedin_url: str | None = None
    website: str | None = None
    country: str | None = None
    city: str | None = None
    industry: str | None = None
    global_status: GlobalStatus = "active"
    custom_fields: dict[str, CustomValue] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime

    def merged_with(self, incoming: ProspectFields, when: datetime) -> Prospect:
        """A create for an existing email: non-empty incoming fields win; custom fields merge key by key."""
        changes: dict[str, Any] = {
            name: getattr(incoming, name) for name in TEXT_FIELDS if getattr(incoming, name) is not None
        }
        if incoming.custom_fields:
            changes["custom_fields"] = {**self.custom_fields, **incoming.custom_fields}
        if not changes:
            return self
        return self.model_copy(update={**changes, "updated_at": when})


class ProspectFilters(BaseModel):
    global_status: GlobalStatus | None = None
    list_id: str | None = None
    email: str | None = None
    updated_since: datetime | None = None


class ProspectList(BaseModel):
    id: str
    workspace_id: str
    name: str
    color: str | None = None
    prospect_count: int = 0
    created_at: datetime
    updated_at: datetime


class ListCreate(_Camel):
    name: SingleLine = Field(min_length=1, max_length=200)
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")

    @field_validator("name", mode="before")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class ListUpdate(_Camel, PatchModel):
    name: SingleLine | None = Field(default=None, min_length=1, max_length=200)
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("name",)

    @field_validator("name", mode="before")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class ListMembersChange(_Camel):
    prospect_ids: list[str] = Field(min_length=1, max_length=1000)


class MembershipResult(BaseModel):
    changed: int
    unchanged: int
    not_found: int
    prospect_count: int
