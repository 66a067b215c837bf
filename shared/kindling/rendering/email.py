"""One email from a step's templates, and the launch-time check of custom-field references."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kindling.rendering.context import RenderContext
from kindling.rendering.names import custom_lookup_key, split_custom_prefix
from kindling.rendering.seeding import SeedChoices
from kindling.rendering.template import CompiledTemplate, templates_custom_fields


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str  # one line of plain text
    html: str  # sanitised
    text: str  # the plain-text part
    unresolved: tuple[str, ...] = ()  # custom keys used without a fallback that this prospect lacks (11.10)


def render_email(
    subject: CompiledTemplate,
    body: CompiledTemplate,
    context: RenderContext,
    *,
    seed: str,
    text: CompiledTemplate | None = None,
) -> RenderedEmail:
    """Subject (plain text, whitespace and line breaks collapsed to single spaces: no header injection), the
    sanitised HTML body, and the plain-text part: derived from the HTML, or `text` (a bodyText template) rendered
    as plain text. The body and `text` draw spintax choices from the same seed, so their options match."""
    subject_line = " ".join(subject.render(context, rng=SeedChoices(seed, b"subject"), mode="text").split())
    html, derived = body.render_html_and_text(context, rng=SeedChoices(seed, b"body"))
    if text is not None:
        derived = text.render(context, rng=SeedChoices(seed, b"body"), mode="plain")
    unresolved = subject.unresolved(context) + body.unresolved(context)
    if text is not None:
        unresolved += text.unresolved(context)
    if unresolved:
        unresolved = tuple(sorted(set(unresolved)))
    return RenderedEmail(subject_line, html, derived, unresolved)


def unresolved_custom_fields(
    templates: Iterable[CompiledTemplate], available: Iterable[str], *, include_fallbacks: bool = False
) -> list[str]:
    """Validate-at-launch (help center 11.9): the custom keys the templates use that no available column provides,
    sorted. `available` are custom keys or column names (`plan`, `custom:plan`, `Plan Tier`); matching ignores
    case, spaces and underscores, as rendering does.

    Decided: a reference with a `default` fallback is not reported (include_fallbacks=False). The help center
    blocks launch for references that "aren't satisfiable", and recommends fallbacks precisely so that every
    prospect gets a coherent email when a custom field is missing or blank; a fallback satisfies the reference.
    """
    have = set()
    for name in available:
        custom = split_custom_prefix(name)
        have.add(custom_lookup_key(custom if custom is not None else name))
    missing = {
        key
        for key in templates_custom_fields(templates, include_fallbacks=include_fallbacks)
        if custom_lookup_key(key) not in have
    }
    return sorted(missing)
