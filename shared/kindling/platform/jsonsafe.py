"""JSON that only ever holds finite numbers.

Python's `json` reads `NaN`, `Infinity`, `-Infinity` and overflowing literals such as `1e999` as floats that no
JSON encoder will write back (`allow_nan=False`), so one stored value could break every later response that
carries it. Requests are read strictly (`loads_finite` refuses them) and stored JSON is read leniently
(`loads_lenient` turns them into null), so a value stored before the edge refused them cannot break a listing.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NonFiniteNumber(ValueError):
    """A JSON document carries NaN, an infinity or a number too large for a float."""

    def __init__(self, literal: str) -> None:
        super().__init__(f"{literal} is not a finite number")
        self.literal = literal


def _refuse_constant(literal: str) -> Any:
    raise NonFiniteNumber(literal)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise NonFiniteNumber(literal)
    return value


def loads_finite(data: str | bytes) -> Any:
    """`json.loads` that raises NonFiniteNumber for NaN, Infinity and out-of-range numbers."""
    return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)


def _none_for_constant(_: str) -> Any:
    return None


def _float_or_none(literal: str) -> float | None:
    value = float(literal)
    return value if math.isfinite(value) else None


def loads_lenient(data: str | bytes) -> Any:
    """`json.loads` that reads NaN, Infinity and out-of-range numbers as null (for data already stored)."""
    return json.loads(data, parse_constant=_none_for_constant, parse_float=_float_or_none)


def finite(value: Any) -> Any:
    """`value` with every non-finite float inside it (dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value
