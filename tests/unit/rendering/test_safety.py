"""Prospect values cannot inject markup: whatever a value holds and wherever the template puts it, the HTML part
only has allowlisted tags and attributes, checked URLs, and the value as text."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

from kindling.rendering import build_context, compile_template, render_email, sanitize_html
from kindling.rendering.html import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, url_allowed

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    '" onmouseover="alert(1)',
    "javascript:alert(1)",
    "  javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "</p><iframe src=https://evil.test></iframe>",
    "<!--",
    "--><script>x</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<b>bold</b> & <i>co</i>",
    "red; background-image: url(https://track.test/p.gif)",
    "x onload=alert(1)",
    "\x00<b>",
    "{{firstName}} {a|b} \\{{",
    "https://evil.test/x.png",
    "http://insecure.test/x.png",
    "//evil.test/x.png",
]

TEMPLATE = """<p>Hi {{firstName}}, {{company}}</p>
<p title="{{company}}">quoted attribute</p>
<p title={{company}}>unquoted attribute</p>
<a href="{{website}}">whole href</a>
<a href="https://ok.test/?c={{company}}">href query</a>
<img src="{{custom.logo}}" alt="{{company}}">
<img src="https://cdn.test/{{company}}.png">
<p style="color: {{company}}">style</p>
<!-- {{company}} -->
<script>{{company}}</script>
<a {{company}}>attribute name</a>
<{{company}}>tag name</p>
{{signature}}"""


class _Audit(HTMLParser):
    """An independent reading of the output: every tag and attribute, every URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag {tag}")
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ALLOWED_ATTRIBUTES["*"] | ({"rel"} if tag == "a" else set())
        for name, value in attrs:
            if name not in allowed:
                self.problems.append(f"attribute {name} on {tag}")
            if name in ("href", "src") and not url_allowed(value or "", image=tag == "img"):
                self.problems.append(f"url {value!r} on {tag}")
            if name == "style" and "url" in (value or "").lower():
                self.problems.append(f"style {value!r}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")


def audit(markup: str) -> _Audit:
    checker = _Audit()
    checker.feed(markup)
    checker.close()
    return checker


@pytest.mark.parametrize("payload", PAYLOADS)
def test_malicious_values_cannot_inject_markup(payload: str) -> None:
    body = compile_template(TEMPLATE)
    ctx = build_context(
        {"firstName": payload, "company": payload, "website": payload},
        custom_fields={"logo": payload},
        sender={"signature": payload},
    )
    email = render_email(compile_template("{{company}} {{firstName}}"), body, ctx, seed="s")
    checker = audit(email.html)
    assert checker.problems == []
    # The same output is what the sanitiser itself would leave: nothing further to strip.
    assert sanitize_html(email.html) == email.html
    # In text the value arrives whole, as text.
    assert f"Hi {payload.replace(chr(0), '')}".split("\n")[0] in html.unescape(email.html).replace("<br>", "\n")
    assert "\n" not in email.subject and "\r" not in email.subject
    assert "(javascript:" not in email.text.lower().replace("\t", "").replace("\n", "")


@pytest.mark.parametrize(
    ("website", "kept"),
    [
        ("https://acme.test/about", True),
        ("http://acme.test", True),
        ("mailto:sales@acme.test", True),
        ("acme.test", True),  # relative, as nh3 leaves it
        ("javascript:alert(1)", False),
        (" JAVASCRIPT:alert(1)", False),
        ("data:text/html,x", False),
        ("", False),
    ],
)
def test_urls_built_from_values_are_checked_per_message(website: str, kept: bool) -> None:
    template = compile_template('<a href="{{website}}">Site</a> <img src="{{custom.logo}}">')
    ctx = build_context({"website": website}, custom_fields={"logo": website})
    email = render_email(compile_template("s"), template, ctx, seed="x")
    assert (f'href="{html.escape(website)}"' in email.html) is kept
    assert (f"Site ({website})" in email.text) is kept
    # images: https only
    assert ('src="' in email.html) is website.startswith("https://")


def test_a_value_that_looks_like_the_internal_marker_is_just_text() -> None:
    template = compile_template("<p>{{company}} {{firstName}}</p>")
    lookalike = f"{template._marker_prefix}1z"
    ctx = build_context({"company": lookalike, "firstName": "Sarah"})
    email = render_email(compile_template("s"), template, ctx, seed="x")
    assert email.html == f"<p>{lookalike} Sarah</p>"


def test_the_signature_is_trusted_html_but_still_sanitised() -> None:
    signature = (
        '<p>Jordan <b>Lee</b><br><a href="https://acme.test">Acme</a></p><script>x()</script><img src=x onerror=y>'
    )
    body = compile_template("<p>Thanks,</p>{{signature}}")
    email = render_email(compile_template("s"), body, build_context(sender={"signature": signature}), seed="x")
    assert email.html == (
        '<p>Thanks,</p><p>Jordan <b>Lee</b><br><a href="https://acme.test" rel="noopener noreferrer">Acme</a></p><img>'
    )
    assert email.text == "Thanks,\n\nJordan Lee\nAcme (https://acme.test)"


def test_a_company_with_markup_is_shown_not_rendered() -> None:
    body = compile_template("<p>I noticed {{company}} is growing</p>")
    email = render_email(compile_template("{{company}}"), body, build_context({"company": "<b>x</b>"}), seed="x")
    assert email.html == "<p>I noticed &lt;b&gt;x&lt;/b&gt; is growing</p>"
    assert email.text == "I noticed <b>x</b> is growing"
    assert email.subject == "<b>x</b>"
