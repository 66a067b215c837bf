"""Control characters in user text: the rules for what may reach a mail header, a body or a log line.

- Single-line text (display names, prospect names and built-in fields, subjects, campaign and list names,
  SMTP/IMAP user names, URLs) may carry no control character at all: CR or LF would end a header line (header
  injection, or an unbuildable message) or forge a log line, and NUL, ESC and friends have no business there.
- Multi-line text (signatures, custom field values) may carry the layout characters TAB, LF and CR+LF;
  every other control character (a lone CR, NUL, form feed, ESC, DEL, the C1 range) is refused.

U+2028/U+2029 (line and paragraph separators) count as line breaks: many log viewers and parsers split on them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LAYOUT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]|\r(?!\n)")
_LAYOUT_RUN = re.compile(r"[\t\r\n\u2028\u2029]+")


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """The first forbidden character in `value` (as `U+000A`), or None when the text is clean."""
    found = (_CONTROL_BUT_LAYOUT if multiline else _ANY_CONTROL).search(value)
    return None if found is None else f"U+{ord(found.group()[0]):04X}"


def single_line(value: str) -> str:
    """Pydantic validator: refuse any control character (CR and LF included)."""
    bad = control_character(value)
    if bad is not None:
        raise ValueError(f"must be a single line without control characters (found {bad})")
    return value


def multi_line(value: str) -> str:
    """Pydantic validator: refuse control characters other than TAB, LF and CR+LF."""
    bad = control_character(value, multiline=True)
    if bad is not None:
        raise ValueError(f"must not contain control characters other than tab and line breaks (found {bad})")
    return value


def fold_lines(value: str) -> str:
    """Line breaks and tabs as single spaces (a multi-line spreadsheet cell bound for a one-line field)."""
    return _LAYOUT_RUN.sub(" ", value).strip()


SingleLine = Annotated[str, AfterValidator(single_line)]
MultiLine = Annotated[str, AfterValidator(multi_line)]
