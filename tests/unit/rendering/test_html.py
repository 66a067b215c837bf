"""HTML: allowlist sanitising (nh3), images only by https URL, and the plain-text part derived from the HTML."""

from __future__ import annotations

import pytest

from kindling.rendering import html_to_text, sanitize_html


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>Hi <b>there</b></p>", "<p>Hi <b>there</b></p>"),
        ("<p>Hi</p><script>alert(1)</script>", "<p>Hi</p>"),
        ("<style>p { color: red }</style><p>x</p>", "<p>x</p>"),
        ('<p onclick="steal()" onmouseover="x">x</p>', "<p>x</p>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href=" JaVa\tScript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="vbscript:x">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="data:text/html,x">x</a>', '<a rel="noopener noreferrer">x</a>'),
        (
            '<a href="https://example.com/?a=1&b=2" title="t">x</a>',
            '<a href="https://example.com/?a=1&amp;b=2" title="t" rel="noopener noreferrer">x</a>',
        ),
        ('<a href="mailto:a@b.test">m</a>', '<a href="mailto:a@b.test" rel="noopener noreferrer">m</a>'),
        ('<img src="https://cdn.test/logo.png" alt="Logo">', '<img src="https://cdn.test/logo.png" alt="Logo">'),
        ('<img src="http://cdn.test/logo.png">', "<img>"),
        ('<img src="data:image/png;base64,AAAA">', "<img>"),
        ('<img src="cid:logo@x">', "<img>"),
        ('<img src="//cdn.test/logo.png">', "<img>"),
        ('<img src="https://x.test/a.png" onerror="x()">', '<img src="https://x.test/a.png">'),
        ("<iframe src='https://x.test'></iframe><object></object><form><input></form>ok", "ok"),
        ("<unknown>kept text</unknown>", "kept text"),
        ("<!-- comment -->x", "x"),
        ('<p style="color: red; position: fixed">x</p>', '<p style="color:red">x</p>'),
        ('<p style="background-image: url(https://t.test/pixel)">x</p>', "<p>x</p>"),
        ("a < b & c", "a &lt; b &amp; c"),
    ],
)
def test_sanitize_html_keeps_the_allowlist_only(markup: str, expected: str) -> None:
    assert sanitize_html(markup) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>Hi Sarah,</p><p>Thanks.</p>", "Hi Sarah,\n\nThanks."),
        ("Line one<br>Line two<br/><br>Line four", "Line one\nLine two\n\nLine four"),
        ("<div>one</div><div>two</div>", "one\ntwo"),
        ("<p>   lots    of\n\n   space </p>", "lots of space"),
        ("<p>a &amp; b &lt; c&nbsp;d</p>", "a & b < c d"),
        ('<p>See <a href="https://x.test/pricing">our pricing</a>.</p>', "See our pricing (https://x.test/pricing)."),
        ('<a href="https://x.test">https://x.test</a>', "https://x.test"),
        ('<a href="https://x.test/">x.test</a>', "x.test"),
        ('<a href="mailto:a@b.test">a@b.test</a>', "a@b.test"),
        ('<a href="https://x.test"><img src="https://x.test/a.png"></a>', "https://x.test"),
        ('<a href="javascript:alert(1)">click</a>', "click"),
        ("<ul><li>one</li><li>two</li></ul><p>after</p>", "- one\n- two\n\nafter"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("<h1>Title</h1>text", "Title\n\ntext"),
        ("<p>x</p><script>alert(1)</script>", "x"),
        ('<img src="https://x.test/a.png" alt="logo">', ""),
        ("<pre>  keep\n   this</pre>", "keep\n   this"),
        ("plain text, no tags", "plain text, no tags"),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected
