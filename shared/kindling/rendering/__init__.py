"""Message rendering: merge tags (Liquid output statements with name normalisation), spintax, sanitised HTML and
the derived plain-text part. Pure functions; templates compile once (cached) and render from cached plans.

Processing order (help center 11.6): merge tags, then spintax, then HTML. Values are never read as spintax or
HTML: spintax is resolved in the template text, and values are escaped where they land in the sanitised HTML.
"""

from kindling.rendering.context import RenderContext, build_context
from kindling.rendering.email import RenderedEmail, render_email, unresolved_custom_fields
from kindling.rendering.html import html_to_text, sanitize_html
from kindling.rendering.names import known_tag, squash
from kindling.rendering.seeding import SeedChoices
from kindling.rendering.template import CompiledTemplate, TemplateSyntaxFailed, compile_template

__all__ = [
    "CompiledTemplate",
    "RenderContext",
    "RenderedEmail",
    "SeedChoices",
    "TemplateSyntaxFailed",
    "build_context",
    "compile_template",
    "html_to_text",
    "known_tag",
    "render_email",
    "sanitize_html",
    "squash",
    "unresolved_custom_fields",
]
