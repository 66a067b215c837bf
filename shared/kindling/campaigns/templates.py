"""Step templates against the rendering engine: syntax checked when saved (400 with positions, never a send-time
failure), custom-field references checked at launch, and the preview.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kindling.campaigns.models import StepRecord, VariantRecord
from kindling.platform.errors import KindlingError, ValidationFailed
from kindling.rendering import (
    CompiledTemplate,
    RenderContext,
    SeedChoices,
    TemplateSyntaxFailed,
    build_context,
    compile_template,
    html_to_text,
    render_email,
    unresolved_custom_fields,
)

_PARTS = (("subject", "subject"), ("body_html", "bodyHtml"), ("body_text", "bodyText"))
# A LinkedIn step's texts: merge tags and spintax as in email, rendered as plain text (no HTML on LinkedIn).
LINKEDIN_TEXTS = (
    ("linkedin_invite_note", "linkedinInviteNote"),
    ("linkedin_message_template", "linkedinMessageTemplate"),
    ("linkedin_subject", "linkedinSubject"),
)


def check_linkedin(step: StepRecord, prefix: str) -> list[dict[str, Any]]:
    """Compile a LinkedIn step's texts; the syntax errors as details named `<prefix>linkedinInviteNote`, ..."""
    details: list[dict[str, Any]] = []
    for attribute, name in LINKEDIN_TEXTS:
        source = getattr(step, attribute)
        if not source:
            continue
        try:
            compile_template(source, field=prefix + name)
        except TemplateSyntaxFailed as exc:
            details.extend(exc.details)
    return details


def render_plain(source: str, context: RenderContext, *, seed: str, label: bytes, field: str) -> str:
    """One LinkedIn text rendered as plain text (whitespace at the ends trimmed; LinkedIn trims it too)."""
    template = compile_template(source, field=field)
    return template.render(context, rng=SeedChoices(seed, label), mode="plain").strip()


def bare_note(note: str) -> str:
    """The invite note for a prospect with no data (tags empty or their fallback, a fixed spintax pick): a note
    already over 300 characters this way is refused when saved (decisions.md)."""
    return render_plain(note, build_context(None), seed="", label=b"note", field="linkedinInviteNote")


def bare_note_length(note: str) -> int:
    return len(bare_note(note))


def check_variant(variant: VariantRecord, prefix: str) -> list[dict[str, Any]]:
    """Compile the variant's subject and bodies; the syntax errors as details named `<prefix>subject`, ..."""
    details: list[dict[str, Any]] = []
    for attribute, name in _PARTS:
        source = getattr(variant, attribute)
        if not source:
            continue
        try:
            compile_template(source, field=prefix + name)
        except TemplateSyntaxFailed as exc:
            details.extend(exc.details)
    return details


def raise_on_syntax(details: list[dict[str, Any]]) -> None:
    if details:
        raise ValidationFailed("A template has a syntax error.", code="validation_error", details=details)


def compiled(steps: Iterable[StepRecord]) -> list[CompiledTemplate]:
    """The compiled templates of the enabled variants of the active steps (the ones that can be sent)."""
    templates: list[CompiledTemplate] = []
    for step in steps:
        if not step.is_active:
            continue
        for attribute, name in LINKEDIN_TEXTS:
            source = getattr(step, attribute)
            if source:
                templates.append(compile_template(source, field=name))
        for variant in step.enabled_variants:
            for attribute, name in _PARTS:
                source = getattr(variant, attribute)
                if source:
                    templates.append(compile_template(source, field=name))
    return templates


def syntax_problems(steps: Iterable[StepRecord]) -> list[str]:
    """Human-readable syntax problems of the sendable templates (preflight; saves refuse them anyway)."""
    problems = []
    for step in steps:
        if not step.is_active:
            continue
        for detail in check_linkedin(step, f"step {step.step_index} "):
            problems.append(f"{detail.get('field')}: {detail.get('message')}")
        for variant in step.enabled_variants:
            for detail in check_variant(variant, f"step {step.step_index} variant {variant.letter} "):
                problems.append(f"{detail.get('field')}: {detail.get('message')}")
    return problems


def unresolved(steps: Sequence[StepRecord], available: Iterable[str]) -> list[str]:
    """The `{{custom.<name>}}` references no enrolled prospect's columns can satisfy (help center §11.9)."""
    try:
        templates = compiled(steps)
    except KindlingError:
        return []  # a syntax error is reported on its own; nothing more to say about its references
    return list(unresolved_custom_fields(templates, frozenset(available)))


@dataclass(frozen=True)
class Preview:
    subject: str
    body_html: str
    body_text: str


def render_preview(
    content: VariantRecord,
    prospect: Mapping[str, Any] | None,
    custom_fields: Mapping[str, Any] | None,
    sender: Mapping[str, Any] | None,
    seed: str,
) -> Preview:
    """One step variant rendered as the sender would send it (spintax picked by `seed`)."""
    raise_on_syntax(check_variant(content, "step."))
    subject_tpl = compile_template(content.subject or "", field="step.subject")
    body_tpl = compile_template(content.body_html or "", field="step.bodyHtml")
    text_tpl = compile_template(content.body_text, field="step.bodyText") if content.body_text else None
    context = build_context(prospect, custom_fields=custom_fields, sender=sender)
    rendered = render_email(subject_tpl, body_tpl, context, seed=seed, text=text_tpl)
    return Preview(subject=rendered.subject, body_html=rendered.html, body_text=rendered.text)


def derived_text(body_html: str | None) -> str | None:
    """The plain-text part shown as `bodyText` when none was written: the HTML's text, merge tags kept."""
    return None if body_html is None else html_to_text(body_html)


@dataclass(frozen=True)
class LinkedInPreview:
    """A LinkedIn step rendered for one prospect: `text` is the note, message, comment or InMail body (None for
    actions without text), `subject` the InMail's."""

    text: str | None
    subject: str | None


def render_linkedin_preview(
    step: StepRecord,
    prospect: Mapping[str, Any] | None,
    custom_fields: Mapping[str, Any] | None,
    sender: Mapping[str, Any] | None,
    seed: str,
) -> LinkedInPreview:
    raise_on_syntax(check_linkedin(step, "step."))
    context = build_context(prospect, custom_fields=custom_fields, sender=sender)
    source = step.linkedin_invite_note if step.linkedin_action_type == "send_invite" else step.linkedin_message_template
    text = None
    if source is not None:
        field = (
            "step.linkedinInviteNote" if step.linkedin_action_type == "send_invite" else "step.linkedinMessageTemplate"
        )
        text = render_plain(source, context, seed=seed, label=b"linkedin", field=field)
    subject = None
    if step.linkedin_subject is not None:
        subject = " ".join(
            render_plain(
                step.linkedin_subject, context, seed=seed, label=b"subject", field="step.linkedinSubject"
            ).split()
        )
    return LinkedInPreview(text=text, subject=subject)
