"""Finite-only JSON: strict reading refuses what Python's json accepts beyond JSON; lenient reading nulls it."""

from __future__ import annotations

import math

import pytest

from kindling.platform.jsonsafe import NonFiniteNumber, finite, loads_finite, loads_lenient


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ('{"a": NaN}', "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ('{"a": [1, -Infinity]}', "-Infinity"),
        ('{"a": 1e999}', "1e999"),
        ('{"a": -2.5e400}', "-2.5e400"),
    ],
)
def test_strict_reading_refuses_non_finite_numbers(text: str, literal: str) -> None:
    with pytest.raises(NonFiniteNumber) as caught:
        loads_finite(text)
    assert caught.value.literal == literal


def test_strict_reading_keeps_ordinary_numbers() -> None:
    assert loads_finite('{"a": 1.5, "b": 10, "c": 1e300, "d": "NaN"}') == {"a": 1.5, "b": 10, "c": 1e300, "d": "NaN"}


def test_lenient_reading_turns_non_finite_numbers_into_null() -> None:
    assert loads_lenient('{"a": NaN, "b": [Infinity, 2.0], "c": 1e999, "d": 3}') == {
        "a": None,
        "b": [None, 2.0],
        "c": None,
        "d": 3,
    }


def test_finite_scrubs_nested_values() -> None:
    assert finite({"a": math.nan, "b": [math.inf, 1.0, ("x", -math.inf)], "c": "inf"}) == {
        "a": None,
        "b": [None, 1.0, ["x", None]],
        "c": "inf",
    }
