"""The one PATCH body rule every concept's request models share.

A PATCH body changes only the fields it carries: an omitted field is unchanged and `null` clears an optional
field. Some fields have no "cleared" state (a campaign's timezone, a mailbox's SMTP host, a webhook's URL); a
model lists them in `NOT_NULLABLE` and a body that sets one of them to null is refused as a whole with
`cannot be null: <names>` (400 `validation_error` through the API's validation handler), before anything is read
or written.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, model_validator


class PatchModel(BaseModel):
    """Base of the request bodies whose optional fields may refuse null. Subclasses keep their own model_config
    (camelCase aliases, strictness) and add their own validators; this one runs before theirs."""

    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ()
    """Field names (not aliases) that may be omitted but not sent as null."""

    NULL_NAMES_BY_ALIAS: ClassVar[bool] = True
    """Name the refused fields as the client spells them (the alias); False names them by field name."""

    def _null_names(self) -> list[str]:
        """The NOT_NULLABLE fields this body sets to null, in NOT_NULLABLE's order, named for the message."""
        names = [name for name in self.NOT_NULLABLE if name in self.model_fields_set and getattr(self, name) is None]
        if not self.NULL_NAMES_BY_ALIAS:
            return names
        fields = type(self).model_fields
        return [fields[name].alias or name for name in names]

    @model_validator(mode="after")
    def _refuse_nulls(self) -> Self:
        nulls = self._null_names()
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self
