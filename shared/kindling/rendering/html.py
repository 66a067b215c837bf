"""HTML: the allowlist sanitiser (nh3), the plain-text derivation, and the render plans built from sanitised HTML.

A message body is sanitised once per template and spintax choice, not once per message: the template's HTML is
cleaned by nh3 with a marker in place of every merge value, and the cleaned markup is cut into a plan (a format
string) that receives the values afterwards. What a value can do depends on where its marker landed:
- in text: it is HTML-escaped (newlines become <br>), so a value can never open a tag;
- in an attribute: it is escaped with quotes, so it can never leave the attribute (nh3 writes every attribute
  double-quoted); inside `style` it is dropped, because escaping does not stop CSS;
- in `href`/`src`: the whole URL is checked per message, after the values are in (`url_allowed`);
- anywhere else (a tag or attribute name, a comment, a removed element): nh3 removed the marker, so the value
  goes nowhere.
`sanitize_html` and `html_to_text` go through the same plans, with no values.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass

import nh3

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "br",
        "center",
        "code",
        "div",
        "em",
        "font",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    }
)
_CELL = {"align", "valign", "width", "height", "colspan", "rowspan", "bgcolor"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "dir"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "font": {"color", "face", "size"},
    "p": {"align"},
    "div": {"align"},
    "table": {"width", "border", "cellpadding", "cellspacing", "align", "bgcolor"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"align", "valign", "bgcolor"},
    "ol": {"start"},
}
# Enough for formatted text and signatures; no positioning, no url() (background images would be trackers).
STYLE_PROPERTIES: frozenset[str] = frozenset(
    {
        "color",
        "background-color",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "text-align",
        "text-decoration",
        "line-height",
        "vertical-align",
        "width",
        "height",
        "max-width",
        "margin",
        "margin-top",
        "margin-bottom",
        "margin-left",
        "margin-right",
        "padding",
        "padding-top",
        "padding-bottom",
        "padding-left",
        "padding-right",
        "border",
        "border-collapse",
        "border-radius",
    }
)
LINK_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto", "tel"})
IMAGE_SCHEMES: frozenset[str] = frozenset({"https"})  # images only by https URL; no data:, no cid: (no attachments)

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(LINK_SCHEMES),
    filter_style_properties=set(STYLE_PROPERTIES),
    strip_comments=True,
    link_rel="noopener noreferrer",
)

HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
# nh3 serialises every tag the same way: lowercase names, attributes always `name="value"`, `<` in text as `&lt;`.
_TAG = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[^\s"\'>/=]+(?:="[^"]*")?)*)\s*/?>')
_ATTR = re.compile(r'\s+([^\s"\'>/=]+)(?:="([^"]*)")?')
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]+")  # browsers skip these inside and around a scheme
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_WHITESPACE = re.compile(r"[ \t\n\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_SLOT = re.compile(r"\x00(\d+)\x00")

# Newlines owed before the next text when one of these opens or closes.
_BREAKS = {
    "p": 2,
    "h1": 2,
    "h2": 2,
    "h3": 2,
    "h4": 2,
    "h5": 2,
    "h6": 2,
    "blockquote": 2,
    "ul": 2,
    "ol": 2,
    "table": 2,
    "pre": 2,
    "hr": 2,
    "div": 1,
    "center": 1,
    "li": 1,
    "tr": 1,
}


def url_allowed(url: str, *, image: bool) -> bool:
    """A link may be http(s), mailto, tel or relative; an image only an absolute https URL."""
    compact = _URL_IGNORED.sub("", url)
    scheme = _SCHEME.match(compact)
    if image:
        return scheme is not None and scheme.group(1).lower() in IMAGE_SCHEMES
    return scheme is None or scheme.group(1).lower() in LINK_SCHEMES


def escape_text(value: str) -> str:
    """A value placed in HTML text: escaped, line breaks kept as <br>."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\n" in value or "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def without_controls(value: str) -> str:
    """Control characters (NUL...) have no place in an email; tabs and line breaks stay."""
    return value if value.isprintable() else _CONTROL.sub("", value)


def escape_attribute(value: str) -> str:
    """A value placed in a double-quoted attribute (escaped as nh3 writes attributes)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def text_to_html(text: str) -> str:
    """Plain text (a template or signature written without tags) as HTML: escaped, newlines as <br>."""
    return escape_text(text)


@dataclass(frozen=True, slots=True)
class UrlSlot:
    """An href/src whose value contains merge values: checked per message, dropped when not allowed."""

    parts: tuple[str | int, ...]  # unescaped literal text, or the index of a value
    image: bool
    attribute: str | None  # the attribute to write (HTML plan); None: a plain-text link " (url)"
    bare: bool = False  # plain text: the link had no text of its own, so the URL stands alone

    def render(self, values: list[str]) -> str:
        url = "".join(part if isinstance(part, str) else values[part] for part in self.parts)
        if not url.strip() or not url_allowed(url, image=self.image):
            return ""
        if self.attribute is not None:
            return f' {self.attribute}="{escape_attribute(url)}"'
        return url if self.bare else f" ({url})"


@dataclass(frozen=True, slots=True)
class Plan:
    """A render plan: `fmt.format(*args)` where args are the values (escaped as the plan's mode needs)."""

    fmt: str
    urls: tuple[UrlSlot, ...]
    attributes: bool  # the plan also takes attribute-escaped values (field numbers n..2n-1)


def _fmt_literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class _Pieces:
    """Accumulates a format string: literal text, value fields and URL slots."""

    def __init__(self, values: int, url_base: int) -> None:
        self.parts: list[str] = []
        self.urls: list[UrlSlot] = []
        self.values = values
        self.url_base = url_base
        self.attributes = False

    def text(self, literal: str) -> None:
        self.parts.append(_fmt_literal(literal))

    def value(self, index: int, *, attribute: bool = False) -> None:
        if attribute:
            self.attributes = True
            index += self.values
        self.parts.append(f"{{{index}}}")

    def url(self, slot: UrlSlot) -> None:
        self.parts.append(f"{{{self.url_base + len(self.urls)}}}")
        self.urls.append(slot)

    def split(self, literal: str, marker: re.Pattern[str] | None, *, attribute: bool = False) -> None:
        if marker is None:
            self.text(literal)
            return
        position = 0
        for match in marker.finditer(literal):
            self.text(literal[position : match.start()])
            self.value(int(match.group(1)), attribute=attribute)
            position = match.end()
        self.text(literal[position:])

    def plan(self) -> Plan:
        return Plan("".join(self.parts), tuple(self.urls), self.attributes)


def _url_parts(url: str, marker: re.Pattern[str]) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    position = 0
    for match in marker.finditer(url):
        parts.append(url[position : match.start()])
        parts.append(int(match.group(1)))
        position = match.end()
    parts.append(url[position:])
    return tuple(part for part in parts if part != "")


def clean(markup: str) -> str:
    """nh3 with the allowlist above (URL rules beyond the scheme list are applied by the plans)."""
    return _CLEANER.clean(markup)


def html_plan(cleaned: str, values: int, marker: re.Pattern[str] | None) -> Plan:
    """The HTML plan of nh3 output: fields 0..n-1 take text-escaped values, n..2n-1 attribute-escaped ones."""
    pieces = _Pieces(values, 2 * values)
    position = 0
    for tag in _TAG.finditer(cleaned):
        _text_segment(pieces, cleaned[position : tag.start()], marker)
        position = tag.end()
        closing, name, attributes = tag.group(1), tag.group(2).lower(), tag.group(3)
        pieces.text(f"<{closing}{name}")
        for attribute in _ATTR.finditer(attributes):
            _attribute(pieces, name, attribute.group(1).lower(), attribute.group(2) or "", marker)
        pieces.text(">")
    _text_segment(pieces, cleaned[position:], marker)
    return pieces.plan()


def _text_segment(pieces: _Pieces, segment: str, marker: re.Pattern[str] | None) -> None:
    if marker is not None and "<" in segment:
        # nh3 writes `<` in text as `&lt;`, so this is markup the tag pattern missed: values stay out of it.
        pieces.text(marker.sub("", segment))
    else:
        pieces.split(segment, marker)


def _attribute(pieces: _Pieces, tag: str, name: str, value: str, marker: re.Pattern[str] | None) -> None:
    dynamic = marker is not None and marker.search(value) is not None
    if name in ("href", "src"):
        image = tag == "img"
        url = _html.unescape(value)
        if marker is not None and dynamic:
            pieces.url(UrlSlot(_url_parts(url, marker), image, name))
        elif url.strip() and url_allowed(url, image=image):
            pieces.text(f' {name}="{value}"')
        return
    if name == "style":
        if marker is not None and dynamic:
            # Escaping does not make a value safe CSS: declarations that would take a value are dropped.
            value = ";".join(part for part in value.split(";") if not marker.search(part))
            dynamic = False
        if not value.strip():
            return
    pieces.text(f' {name}="')
    pieces.split(value, marker if dynamic else None, attribute=True)
    pieces.text('"')


@dataclass(slots=True)
class _Link:
    href: str
    bare: bool


def _same_target(text: str, href: str) -> bool:
    def plain(value: str) -> str:
        value = value.strip().lower().rstrip("/")
        for prefix in ("mailto:", "tel:", "https://", "http://"):
            if value.startswith(prefix):
                return value[len(prefix) :]
        return value

    return plain(text) == plain(href)


class _TextWriter:
    """Plain text of nh3 output: blocks and <br> as newlines, whitespace collapsed, links as `text (url)`."""

    def __init__(self) -> None:
        self.out: list[str | _Link] = []
        self.pending = 0  # newlines owed before the next text
        self.line_start = True
        self.space = False  # a collapsed space owed before the next text
        self.bullet = False
        self.pre = 0
        self.links: list[tuple[str | None, int]] = []

    def text(self, raw: str) -> None:
        text = _html.unescape(raw).replace("\xa0", " ")
        if not self.pre:
            text = _WHITESPACE.sub(" ", text)
            if text in ("", " "):
                self.space = self.space or (text == " " and not self.line_start)
                return
        if self.pending:
            if self.out:
                self.out.append("\n" * self.pending)
                self.line_start = True
            self.pending = 0
        if self.bullet:
            self.out.append("- ")
            self.bullet = False
            self.line_start = False
            text = text.lstrip()
        if self.line_start and not self.pre:
            text = text.lstrip()
        elif self.space and not text.startswith(" "):
            text = " " + text
        self.out.append(text)
        self.line_start = text.endswith("\n")
        self.space = False

    def tag(self, name: str, closing: bool, attributes: str) -> None:
        if name == "br":
            self.out.append("\n")
            self.line_start, self.space = True, False
        elif name in _BREAKS:
            if self.out:
                self.pending = max(self.pending, _BREAKS[name])
            self.space = False
            if name == "li" and not closing:
                self.bullet = True
            elif name == "pre":
                self.pre = max(0, self.pre + (-1 if closing else 1))
        elif name in ("td", "th") and closing:
            self.space = True
        elif name == "a" and not closing:
            href = None
            for attribute in _ATTR.finditer(attributes):
                if attribute.group(1).lower() == "href":
                    href = _html.unescape(attribute.group(2) or "")
            self.links.append((href, len(self.out)))
        elif name == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(item for item in self.out[start:] if isinstance(item, str)).strip()
            if href and not _same_target(label, href):
                self.out.append(_Link(href, bare=not label))


def _text_items(cleaned: str) -> list[str | _Link]:
    writer = _TextWriter()
    position = 0
    for tag in _TAG.finditer(cleaned):
        if tag.start() > position:
            writer.text(cleaned[position : tag.start()])
        position = tag.end()
        writer.tag(tag.group(2).lower(), tag.group(1) == "/", tag.group(3))
    if position < len(cleaned):
        writer.text(cleaned[position:])
    return writer.out


def text_plan(cleaned: str, values: int, marker: re.Pattern[str] | None) -> Plan:
    """The plain-text plan of nh3 output: fields 0..n-1 take the raw values, then the link URL slots."""
    slots: list[UrlSlot] = []
    chunks: list[str] = []
    for item in _text_items(cleaned):
        if isinstance(item, str):
            chunks.append(item.replace("\x00", ""))
            continue
        if marker is not None and marker.search(item.href):
            slots.append(UrlSlot(_url_parts(item.href, marker), False, None, item.bare))
            chunks.append(f"\x00{len(slots) - 1}\x00")
        elif url_allowed(item.href, image=False):
            chunks.append(item.href if item.bare else f" ({item.href})")
    text = "\n".join(line.rstrip(" ") for line in "".join(chunks).split("\n"))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    pieces = _Pieces(values, values)
    position = 0
    for slot in _SLOT.finditer(text):
        pieces.split(text[position : slot.start()], marker)
        pieces.url(slots[int(slot.group(1))])
        position = slot.end()
    pieces.split(text[position:], marker)
    return pieces.plan()


def sanitize_html(markup: str) -> str:
    """Allowlist sanitising: unknown tags unwrapped, script/style removed with their content, on* attributes and
    javascript: URLs dropped, images only by https URL, links get rel="noopener noreferrer"."""
    return html_plan(clean(markup), 0, None).fmt.format()


def html_to_text(markup: str) -> str:
    """The plain-text part of an HTML body: paragraphs and <br> as line breaks, links as "text (url)"."""
    return text_plan(clean(markup), 0, None).fmt.format()
