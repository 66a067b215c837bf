"""Which control characters single-line and multi-line user text may carry."""

from __future__ import annotations

import pytest

from kindling.platform.text import control_character, fold_lines, multi_line, single_line


@pytest.mark.parametrize(
    ("text", "single", "multi"),
    [
        ("Jordan Lee", None, None),
        ("Zoë Ünal — 東京", None, None),
        ("a\nb", "U+000A", None),
        ("a\r\nb", "U+000D", None),
        ("a\tb", "U+0009", None),
        ("a\rb", "U+000D", "U+000D"),  # a lone CR is no line break anywhere
        ("a\x00b", "U+0000", "U+0000"),
        ("a\x0bb", "U+000B", "U+000B"),
        ("a\x0cb", "U+000C", "U+000C"),
        ("a\x1b[0m", "U+001B", "U+001B"),
        ("a\x7fb", "U+007F", "U+007F"),
        ("a\x85b", "U+0085", "U+0085"),
        ("a\u2028b", "U+2028", "U+2028"),
        ("a\u2029b", "U+2029", "U+2029"),
    ],
)
def test_control_characters(text: str, single: str | None, multi: str | None) -> None:
    assert control_character(text) == single
    assert control_character(text, multiline=True) == multi


def test_validators_raise_with_the_character() -> None:
    assert single_line("ok") == "ok"
    assert multi_line("line\r\nline\n\tmore") == "line\r\nline\n\tmore"
    with pytest.raises(ValueError, match="U\\+000A"):
        single_line("a\nb")
    with pytest.raises(ValueError, match="U\\+0007"):
        multi_line("a\x07")


@pytest.mark.parametrize(
    ("cell", "folded"),
    [("Acme\r\nInternational", "Acme International"), ("a\n\n\tb", "a b"), ("  x\n", "x"), ("plain", "plain")],
)
def test_fold_lines(cell: str, folded: str) -> None:
    assert fold_lines(cell) == folded
