"""The PATCH null rule (kindling.platform.models.PatchModel) on its own: which fields refuse null, how the
message names them, and that it runs before a subclass's own validators."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from kindling.platform.models import PatchModel


class CamelPatch(PatchModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    daily_limit: int | None = None
    is_active: bool | None = None
    note: str | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("daily_limit", "is_active")

    @model_validator(mode="after")
    def _limit_needs_active(self) -> CamelPatch:
        if self.daily_limit is not None and self.is_active is False:
            raise ValueError("a limit needs an active mailbox")
        return self


class FieldNamedPatch(CamelPatch):
    NULL_NAMES_BY_ALIAS: ClassVar[bool] = False


class PlainPatch(PatchModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = None

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("host",)


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (CamelPatch, {"dailyLimit": None}, "cannot be null: dailyLimit"),
        (CamelPatch, {"daily_limit": None}, "cannot be null: dailyLimit"),
        (CamelPatch, {"isActive": None, "dailyLimit": None}, "cannot be null: dailyLimit, isActive"),
        (FieldNamedPatch, {"dailyLimit": None, "isActive": None}, "cannot be null: daily_limit, is_active"),
        (PlainPatch, {"host": None}, "cannot be null: host"),
        # the null rule answers before the subclass's own rule would
        (CamelPatch, {"dailyLimit": 5, "isActive": None}, "cannot be null: isActive"),
        (CamelPatch, {"dailyLimit": 5, "isActive": False}, "a limit needs an active mailbox"),
    ],
)
def test_null_for_a_field_that_cannot_be_cleared_is_refused(
    model: type[PatchModel], body: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    errors = refused.value.errors()
    assert [(e["type"], e["loc"], e["msg"]) for e in errors] == [("value_error", (), f"Value error, {message}")]


@pytest.mark.parametrize(
    ("model", "body", "fields_set"),
    [
        (CamelPatch, {}, set()),
        (CamelPatch, {"note": None}, {"note"}),
        (CamelPatch, {"dailyLimit": 7, "note": "x"}, {"daily_limit", "note"}),
        (PlainPatch, {"host": "smtp.example.com"}, {"host"}),
    ],
)
def test_omitted_fields_and_nulls_of_clearable_fields_pass(
    model: type[PatchModel], body: dict[str, Any], fields_set: set[str]
) -> None:
    assert model.model_validate(body).model_fields_set == fields_set
