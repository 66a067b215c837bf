"""Compiling a template: merge tags (Liquid output statements), spintax, escapes; and rendering it.

Syntax, decided here (help center sections 11.1-11.3, 11.6-11.7, 11.11; Reachkit's variant rules):
- `{{ name }}` and `{{ name | filter: 'arg' | ... }}`: Liquid output statements. The filter chain is parsed,
  validated and applied by python-liquid (its standard filters; unknown filter = syntax error). Filter arguments
  are literals (quoted text, numbers); a variable as an argument is refused. `escape`, `escape_once`, `safe` and
  `newline_to_br` do nothing, because values are always escaped for HTML here.
- The name is normalised (see kindling.rendering.names): `{{First Name}}` = `{{first_name}}` = `{{firstName}}`
  = `{{FIRSTNAME}}`; `{{custom.x}}` and bare `{{x}}` are custom fields. A quoted literal (`{{ "{{" }}`) is text.
- Liquid tags (`{% if %}` ...) are refused at save time: the help center only documents output statements, and a
  half-supported tag would be sent to prospects verbatim.
- Spintax `{a|b|c}`: a single-brace group with at least one `|` at its own level; groups nest and may hold merge
  tags. Braces without a pipe (`{ }`, CSS) and unmatched braces are plain text. One option is picked per group per
  send. Spintax is resolved in the template text, never in values: a value containing `{a|b}` is sent as is.
- Escapes: `\\{{` starts literal text up to the matching `}}` (a literal `{{...}}`); `\\{`, `\\}` and `\\|` are a
  literal brace or pipe, for text that would otherwise be spintax.
- Errors, all reported at compile time with line, column (1-based) and offset (0-based): a `{{` without its `}}`
  (`{{firstName}` , `{{x} and {{y}}`), an unknown filter or bad filter arguments, an empty or malformed name, a
  Liquid tag, and a merge tag written with one opening brace (`{firstName}}` or `{firstName}` for a known tag).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol

from liquid import BoundTemplate, Environment
from liquid.builtin.expressions.arguments import PositionalArgument
from liquid.builtin.expressions.primitive import FloatLiteral, IntegerLiteral, StringLiteral
from liquid.exceptions import FilterArgumentError, LiquidError

from kindling.platform.errors import ValidationFailed
from kindling.prospects.fields import sanitize_custom_key
from kindling.rendering.context import RenderContext
from kindling.rendering.html import (
    HTML_TAG,
    Plan,
    clean,
    escape_attribute,
    html_plan,
    text_plan,
    text_to_html,
    without_controls,
)
from kindling.rendering.html import escape_text as _escape_text
from kindling.rendering.names import CUSTOM_PREFIX, TRUSTED_HTML_TAGS, custom_lookup_key, known_tag, split_custom_prefix
from kindling.rendering.seeding import SeedChoices

Mode = Literal["html", "text", "plain"]
MAX_ERRORS = 20
MAX_SPIN_DEPTH = 10
_PLAN_CACHE = 256  # render plans kept per template (one per mode and spintax choice)


class Chooser(Protocol):
    """What rendering needs from a random source: `random.Random` fits."""

    def randrange(self, start: int) -> int: ...


class TemplateSyntaxFailed(ValidationFailed):
    """A template that cannot be compiled; `details` has one entry per problem, with its position."""

    code = "validation_error"


def _identity(value: object, *_: object, **__: object) -> object:
    return value


def _environment() -> Environment:
    env = Environment(strict_filters=True, autoescape=False)
    for name in ("escape", "escape_once", "safe", "newline_to_br"):
        env.add_filter(name, _identity)
    return env


_ENV = _environment()
_NAME = re.compile(r"[^\W\d][\w \-]*")
_CUSTOM_KEY = re.compile(r"[^{}|'\"]+")
_ONE_BRACE_TAG = re.compile(r"\{[ \t]*((?:custom:)?[^\W\d][\w. \-]{0,60}?)[ \t]*\}(\}?)", re.IGNORECASE)
_BRACES = re.compile(r"\{+")


@dataclass(frozen=True, slots=True)
class _Var:
    name: str  # canonical name
    key: str  # lookup key in RenderContext.values
    custom: str | None  # the sanitised custom key, for custom fields
    fallback: str | None  # `| default: 'x'` alone: the fallback, without going through Liquid
    has_fallback: bool  # any `default` in the chain
    chain: BoundTemplate | None  # any other filter chain: rendered by Liquid with the value as `v`
    trusted: bool  # the value may be trusted HTML (the signature)

    def text(self, values: Mapping[str, Any]) -> str:
        raw = values.get(self.key)
        if self.chain is None:
            if raw.__class__ is str:
                text: str = raw if raw.isprintable() else without_controls(raw)
            else:
                text = _stringify(raw)
            if self.fallback is not None and not text.strip():
                return self.fallback
            return text
        if isinstance(raw, str):
            raw = without_controls(raw)
        blank = raw is None or (isinstance(raw, str) and not raw.strip())
        try:
            return self.chain.render() if blank else self.chain.render(v=raw)
        except Exception:  # a filter failing on one prospect's value must not fail the send
            return "" if blank else _stringify(raw)


def _stringify(value: object) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return without_controls(str(value))


@dataclass(frozen=True, slots=True)
class _Spin:
    options: tuple[tuple[_Node, ...], ...]
    spins: tuple[tuple[_Spin, ...], ...]  # per option, the groups directly inside it (in order)


_Node = str | int | _Spin  # text, the index of a merge value, a spintax group


def _direct_spins(nodes: tuple[_Node, ...]) -> tuple[_Spin, ...]:
    return tuple(node for node in nodes if isinstance(node, _Spin))


@dataclass(frozen=True)
class CompiledTemplate:
    """A compiled template. `referenced`: the canonical name of every merge tag used (built-ins such as
    "first_name", sender tags such as "signature", custom fields as "custom.<key>")."""

    source: str
    referenced: frozenset[str]
    _nodes: tuple[_Node, ...] = field(repr=False, compare=False)
    _vars: tuple[_Var, ...] = field(repr=False, compare=False)
    _is_html: bool = field(repr=False, compare=False)
    _marker_prefix: str = field(repr=False, compare=False)
    _marker: re.Pattern[str] = field(repr=False, compare=False)
    _spins: tuple[_Spin, ...] = field(repr=False, compare=False)
    _flat_spins: tuple[int, ...] | None = field(repr=False, compare=False)  # option counts, when none nest
    _trusted: tuple[int, ...] = field(repr=False, compare=False)
    _required: tuple[tuple[str, str], ...] = field(repr=False, compare=False)  # (lookup key, custom key)
    _plans: dict[tuple[str, tuple[int, ...]], Plan] = field(default_factory=dict, repr=False, compare=False)

    def custom_fields(self, *, include_fallbacks: bool = True) -> frozenset[str]:
        """The custom keys referenced ("x" for custom.x); without the ones that have a `default` fallback when
        include_fallbacks is False."""
        return frozenset(v.custom for v in self._vars if v.custom and (include_fallbacks or not v.has_fallback))

    def variations(self) -> int:
        """How many different texts spintax can produce (the editor's count: product over the groups)."""

        def count(nodes: tuple[_Node, ...]) -> int:
            total = 1
            for node in nodes:
                if isinstance(node, _Spin):
                    total *= sum(count(option) for option in node.options)
            return total

        return count(self._nodes)

    def unresolved(self, context: RenderContext) -> tuple[str, ...]:
        """Custom keys used without a fallback that the context does not have at all (defer-at-send, 11.10)."""
        if not self._required:
            return ()
        keys = context.values
        return tuple(sorted({custom for key, custom in self._required if key not in keys}))

    def render(self, context: RenderContext, *, rng: Chooser, mode: Mode = "html") -> str:
        """One rendering. html: sanitised HTML; text: the plain text derived from that HTML; plain: the template
        as plain text (literal text as written, values unescaped), for plain-text bodies and LinkedIn messages."""
        choices = self._choose(rng)
        texts = self._texts(context)
        if mode == "plain":
            return self._plan("plain", choices).fmt.format(*texts)
        if mode == "text":
            return self._apply_text(self._plan("text", choices), texts)
        return self._apply_html(self._plan("html", choices), texts, context)

    def render_html_and_text(self, context: RenderContext, *, rng: Chooser) -> tuple[str, str]:
        """The HTML and its derived plain text, with the same spintax choices."""
        choices = self._choose(rng)
        texts = self._texts(context)
        return (
            self._apply_html(self._plan("html", choices), texts, context),
            self._apply_text(self._plan("text", choices), texts),
        )

    # -- internals -----------------------------------------------------------------------------------------

    def _texts(self, context: RenderContext) -> list[str]:
        values = context.values
        return [v.text(values) for v in self._vars]

    def _choose(self, rng: Chooser) -> tuple[int, ...]:
        if self._flat_spins is not None:
            if not self._flat_spins:
                return ()
            if isinstance(rng, SeedChoices):
                return rng.draw(self._flat_spins)
            return tuple([rng.randrange(count) for count in self._flat_spins])
        picked: list[int] = []

        def walk(spins: tuple[_Spin, ...]) -> None:
            for spin in spins:
                index = rng.randrange(len(spin.options))
                picked.append(index)
                walk(spin.spins[index])

        walk(self._spins)
        return tuple(picked)

    def _flat(self, choices: tuple[int, ...]) -> list[str | int]:
        picked = iter(choices)
        flat: list[str | int] = []

        def walk(nodes: tuple[_Node, ...]) -> None:
            for node in nodes:
                if isinstance(node, _Spin):
                    walk(node.options[next(picked)])
                else:
                    flat.append(node)

        walk(self._nodes)
        return flat

    def _plan(self, mode: Mode, choices: tuple[int, ...]) -> Plan:
        key = (mode, choices)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._build_plan(mode, choices)
            if len(self._plans) >= _PLAN_CACHE:
                del self._plans[next(iter(self._plans))]
            self._plans[key] = plan
        return plan

    def _build_plan(self, mode: Mode, choices: tuple[int, ...]) -> Plan:
        flat = self._flat(choices)
        count = len(self._vars)
        if mode == "plain":
            fmt = "".join(
                f"{{{part}}}" if isinstance(part, int) else part.replace("{", "{{").replace("}", "}}") for part in flat
            )
            return Plan(fmt, (), False)
        prefix = self._marker_prefix
        skeleton = "".join(
            f"{prefix}{part}z" if isinstance(part, int) else (part if self._is_html else text_to_html(part))
            for part in flat
        )
        cleaned = clean(skeleton)
        if mode == "html":
            return html_plan(cleaned, count, self._marker)
        return text_plan(cleaned, count, self._marker)

    def _apply_html(self, plan: Plan, texts: list[str], context: RenderContext) -> str:
        args = [_escape_text(text) for text in texts]
        for index in self._trusted:
            markup = context.trusted.get(self._vars[index].key)
            if markup:
                args[index] = markup
        if plan.attributes:
            args.extend(escape_attribute(text) for text in texts)
        else:
            args.extend(texts)  # unused fields; keeps the URL slots' numbering
        if plan.urls:
            args.extend(slot.render(texts) for slot in plan.urls)
        return plan.fmt.format(*args)

    @staticmethod
    def _apply_text(plan: Plan, texts: list[str]) -> str:
        if plan.urls:
            return plan.fmt.format(*texts, *(slot.render(texts) for slot in plan.urls))
        return plan.fmt.format(*texts)


# -- compiling ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Problem:
    offset: int
    message: str


@dataclass(slots=True)
class _Token:
    kind: Literal["text", "var", "open", "pipe", "close"]
    offset: int
    text: str = ""
    var: int = -1


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[_Problem] = []
        self.tokens: list[_Token] = []
        self.vars: list[_Var] = []
        self._var_index: dict[tuple[str, str, str], int] = {}

    def fail(self, offset: int, message: str) -> None:
        self.problems.append(_Problem(offset, message))

    # The top level: text, merge tags, escapes, and the single braces and pipes spintax is made of.
    def scan(self) -> None:
        src, n, i = self.source, len(self.source), 0
        text: list[str] = []
        text_start = 0

        def flush() -> None:
            if text:
                self.tokens.append(_Token("text", text_start, "".join(text)))
                text.clear()

        while i < n and len(self.problems) < MAX_ERRORS:
            char = src[i]
            if not text:
                text_start = i
            if char == "\\" and i + 1 < n and src[i + 1] in "{}|":
                if src.startswith("{{", i + 1):
                    end, following = src.find("}}", i + 3), src.find("{{", i + 3)
                    stop = end + 2 if end != -1 and (following == -1 or end < following) else i + 3
                    text.append(src[i + 1 : stop])
                    i = stop
                else:
                    text.append(src[i + 1])
                    i += 2
                continue
            if char == "{":
                run = _BRACES.match(src, i).end() - i  # type: ignore[union-attr]
                if run > 2:
                    # `{{{x}}`: the braces before the last two are single ones; `{{x}}` follows.
                    flush()
                    self.tokens.extend(_Token("open", i + k) for k in range(run - 2))
                    i += run - 2
                    continue
                if run == 2:
                    flush()
                    i = self.output(i)
                    continue
                if run == 1 and src.startswith("{%", i):
                    self.fail(i, "Liquid tags such as {% if %} are not supported: use merge tags and spintax")
                    end = src.find("%}", i + 2)
                    i = n if end == -1 else end + 2
                    continue
                if run == 1 and self.one_brace_tag(i):
                    i += 1
                    continue
                flush()
                self.tokens.append(_Token("open", i))
                i += 1
                continue
            if char in "|}":
                flush()
                self.tokens.append(_Token("pipe" if char == "|" else "close", i))
                i += 1
                continue
            text.append(char)
            i += 1
        flush()

    def one_brace_tag(self, i: int) -> bool:
        match = _ONE_BRACE_TAG.match(self.source, i)
        if match is None:
            return False
        name = match.group(1)
        if match.group(2) or known_tag(name) is not None or split_custom_prefix(name) is not None:
            self.fail(i, f"Merge tags take two braces on each side: write {{{{{name.strip()}}}}}")
            return True
        return False

    def output(self, start: int) -> int:
        """`{{ ... }}` at `start`; returns the index after it."""
        src, n = self.source, len(self.source)
        j, quote, head_seen, in_filters = start + 2, "", False, False
        end = -1
        while j < n:
            char = src[j]
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"" and (in_filters or not head_seen):
                quote = char
            elif char == "|":
                in_filters = True
            elif char == "}" and src.startswith("}}", j):
                end = j
                break
            elif char in "{}":
                break
            if not char.isspace():
                head_seen = True
            j += 1
        if end == -1:
            self.fail(start, "Unclosed merge tag: every {{ needs its }} (check for a missing or extra brace)")
            return n
        self.expression(start, src[start + 2 : end])
        return end + 2

    def expression(self, start: int, inner: str) -> None:
        offset = start + 2
        split = _top_level_pipe(inner)
        head, filters = (inner, "") if split == -1 else (inner[:split], inner[split:])
        name = head.strip()
        head_offset = offset + len(head) - len(head.lstrip())
        if not name:
            self.fail(start, "Empty merge tag: write a field name, e.g. {{firstName}}")
            return
        if len(name) >= 2 and name[0] in "'\"" and name[-1] == name[0]:
            literal = self.liquid("{{ " + head.lstrip() + filters + " }}", head_offset, start, 3)
            if literal is not None:
                try:
                    self.tokens.append(_Token("text", start, literal.render()))
                except LiquidError as exc:
                    index = exc.token.start_index if exc.token is not None else -1
                    self.fail(head_offset + index - 3 if index >= 3 else start, f"Invalid merge tag: {exc.message}")
            return
        custom = split_custom_prefix(name)
        if custom is not None:
            if not _CUSTOM_KEY.fullmatch(custom) or not sanitize_custom_key(custom).strip("_"):
                self.fail(head_offset, f"Invalid custom field name {custom!r}")
                return
            custom_key = sanitize_custom_key(custom)
            canonical, key = CUSTOM_PREFIX + custom_key, custom_lookup_key(custom)
        elif not _NAME.fullmatch(name):
            self.fail(
                head_offset,
                f"Invalid merge tag name {name!r}: use a field name such as {{{{firstName}}}} or {{{{custom.x}}}}",
            )
            return
        else:
            tag = known_tag(name)
            if tag is not None:
                canonical, key, custom_key = tag, tag, ""
            else:
                custom_key = sanitize_custom_key(name)
                canonical, key = CUSTOM_PREFIX + custom_key, custom_lookup_key(name)
        var = self.filtered(canonical, key, custom_key or None, filters, offset + len(head), start)
        if var is None:
            return
        identity = (key, filters.strip(), canonical)
        slot = self._var_index.get(identity)
        if slot is None:
            slot = self._var_index[identity] = len(self.vars)
            self.vars.append(var)
        self.tokens.append(_Token("var", start, var=slot))

    def liquid(self, mini: str, base: int, start: int, prefix: int) -> BoundTemplate | None:
        """Parse a one-statement Liquid template; errors are mapped to `base + (index - prefix)`."""
        try:
            return _ENV.from_string(mini)
        except LiquidError as exc:
            index = exc.token.start_index if exc.token is not None else -1
            self.fail(base + index - prefix if index >= prefix else start, f"Invalid merge tag: {exc.message}")
            return None

    def filtered(
        self, canonical: str, key: str, custom: str | None, filters: str, base: int, start: int
    ) -> _Var | None:
        trusted = canonical in TRUSTED_HTML_TAGS
        if not filters.strip():
            return _Var(canonical, key, custom, None, False, None, trusted)
        mini = "{{ v " + filters + " }}"
        template = self.liquid(mini, base, start, 5)
        if template is None:
            return None
        for variable, spans in template.analyze().variables.items():
            if variable != "v":
                index = spans[0].span.index if spans else -1
                self.fail(base + index - 5 if index >= 5 else start, "Filter arguments must be quoted text or numbers")
                return None
        chain = template.nodes[0].expression.filters  # type: ignore[attr-defined]
        for item in chain:
            try:
                item.validate_filter_arguments(_ENV)  # python-liquid looks filters up only when rendering
            except LiquidError as exc:
                index = exc.token.start_index if exc.token is not None else -1
                self.fail(base + index - 5 if index >= 5 else start, f"Invalid merge tag: {exc.message}")
                return None
        has_fallback = any(item.name == "default" for item in chain)
        if len(chain) == 1 and chain[0].name == "default" and len(chain[0].args) == 1:
            argument = chain[0].args[0]
            if isinstance(argument, PositionalArgument) and isinstance(
                argument.value, StringLiteral | IntegerLiteral | FloatLiteral
            ):
                return _Var(canonical, key, custom, str(argument.value.value), True, None, trusted)
        for sample in ({"v": "Example"}, {}):
            try:
                template.render(**sample)
            except FilterArgumentError as exc:
                index = exc.token.start_index if exc.token is not None else -1
                self.fail(base + index - 5 if index >= 5 else start, f"Invalid filter argument: {exc.message}")
                return None
            except Exception:  # noqa: S112 - value-dependent failures are handled per message
                continue
        return _Var(canonical, key, custom, None, has_fallback, template, trusted)

    # Spintax: match single braces, keep the groups that have a pipe at their own level.
    def tree(self) -> tuple[_Node, ...]:
        tokens = self.tokens
        partner: dict[int, int] = {}
        stack: list[int] = []
        for index, token in enumerate(tokens):
            if token.kind == "open":
                stack.append(index)
            elif token.kind == "close" and stack:
                partner[stack.pop()] = index
        spin_pipes: dict[int, list[int]] = {}
        open_groups: list[int] = []
        closes = {close: opening for opening, close in partner.items()}
        for index, token in enumerate(tokens):
            if token.kind == "open" and index in partner:
                open_groups.append(index)
                if len(open_groups) > MAX_SPIN_DEPTH:
                    self.fail(token.offset, f"Braces nested more than {MAX_SPIN_DEPTH} deep")
                    return ()
            elif token.kind == "close" and index in closes:
                open_groups.pop()
            elif token.kind == "pipe" and open_groups:
                spin_pipes.setdefault(open_groups[-1], []).append(index)
        spins = {opening: partner[opening] for opening in spin_pipes}

        def build(begin: int, stop: int) -> tuple[_Node, ...]:
            nodes: list[_Node] = []
            text: list[str] = []
            index = begin
            while index < stop:
                token = tokens[index]
                if token.kind == "open" and index in spins:
                    if text:
                        nodes.append("".join(text))
                        text.clear()
                    close = spins[index]
                    cuts = [index, *spin_pipes[index], close]
                    options = tuple(build(cuts[k] + 1, cuts[k + 1]) for k in range(len(cuts) - 1))
                    nodes.append(_Spin(options, tuple(_direct_spins(option) for option in options)))
                    index = close + 1
                    continue
                if token.kind == "var":
                    if text:
                        nodes.append("".join(text))
                        text.clear()
                    nodes.append(token.var)
                elif token.kind == "text":
                    text.append(token.text)
                else:  # a brace or pipe that is not part of a group
                    text.append({"open": "{", "close": "}", "pipe": "|"}[token.kind])
                index += 1
            if text:
                nodes.append("".join(text))
            return tuple(nodes)

        return build(0, len(tokens))


def _top_level_pipe(inner: str) -> int:
    quote = ""
    head_seen = False
    for index, char in enumerate(inner):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and not head_seen:
            quote = char
        elif char == "|":
            return index
        if not char.isspace():
            head_seen = True
    return -1


def _marker_for(source: str) -> str:
    """A value marker that cannot occur in the source: lowercase letters and digits survive nh3 anywhere
    (text, attributes, URL hosts); the prefix is derived from the source and lengthened until it is absent."""
    lowered = source.lower()
    digest = hashlib.sha256(source.encode()).hexdigest()
    length = 8
    while True:
        prefix = "zq" + "".join(c if c.isalpha() else chr(ord("g") + int(c)) for c in digest[:length])
        if prefix not in lowered:
            return prefix
        length += 4


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


@lru_cache(maxsize=2048)
def _compile(source: str) -> CompiledTemplate | tuple[_Problem, ...]:
    compiler = _Compiler(source)
    compiler.scan()
    nodes = () if compiler.problems else compiler.tree()
    if compiler.problems:
        return tuple(sorted(compiler.problems, key=lambda problem: problem.offset))
    prefix = _marker_for(source)
    spins = _direct_spins(nodes)
    return CompiledTemplate(
        source=source,
        referenced=frozenset(v.name for v in compiler.vars),
        _nodes=nodes,
        _vars=tuple(compiler.vars),
        _is_html=HTML_TAG.search(source) is not None,
        _marker_prefix=prefix,
        _marker=re.compile(prefix + r"(\d+)z"),
        _spins=spins,
        _flat_spins=None
        if any(any(option) for spin in spins for option in spin.spins)
        else tuple(len(spin.options) for spin in spins),
        _trusted=tuple(i for i, v in enumerate(compiler.vars) if v.trusted and v.chain is None),
        _required=tuple(sorted({(v.key, v.custom) for v in compiler.vars if v.custom and not v.has_fallback})),
    )


def compile_template(source: str, *, field: str = "body") -> CompiledTemplate:
    """Compile once (cached by source); raises TemplateSyntaxFailed with every problem's position."""
    compiled = _compile(source)
    if isinstance(compiled, CompiledTemplate):
        return compiled
    details = []
    for problem in compiled:
        line, column = _position(source, problem.offset)
        details.append(
            {
                "field": field,
                "message": problem.message,
                "code": "template_syntax",
                "line": line,
                "column": column,
                "offset": problem.offset,
            }
        )
    first = details[0]
    raise TemplateSyntaxFailed(
        f"Template syntax invalid in {field} at line {first['line']}, column {first['column']}: {first['message']}",
        details=details,
    )


def templates_custom_fields(templates: Iterable[CompiledTemplate], *, include_fallbacks: bool) -> Iterator[str]:
    for template in templates:
        yield from template.custom_fields(include_fallbacks=include_fallbacks)
