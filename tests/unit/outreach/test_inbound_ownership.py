"""Inbound LinkedIn messages are written in ONE way: `Attributor.attribute_inbound` (issue 18: "both go through one
attribution function ... a test forbids writing inbound rows any other way"). The scan finds every use of the
inbound row's Item and of the repository's inbound write outside their two allowed places."""

from __future__ import annotations

import ast
from pathlib import Path

KINDLING = Path(__file__).resolve().parents[3] / "shared" / "kindling"
NAMES = {"LinkedInInboundItem", "put_inbound", "li_inbound_pk", "set_inbound_campaigns"}
# where each name may appear: the repository defines them, keys builds the key, attribution is the one writer
ALLOWED = {
    "kindling/outreach/repository.py": NAMES,
    "kindling/platform/keys.py": {"li_inbound_pk"},
    "kindling/outreach/attribution.py": {"LinkedInInboundItem", "put_inbound", "set_inbound_campaigns"},
}


def uses(root: Path) -> list[str]:
    found: list[str] = []
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root.parent).as_posix()
        allowed = ALLOWED.get(relative, set())
        for node in ast.walk(ast.parse(source.read_text("utf-8"), str(source))):
            name = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else node.name
                if isinstance(node, ast.alias)
                else None
            )
            if name in NAMES and name not in allowed:
                found.append(f"{relative}: {name}")
    return found


def callers_of_put_inbound(root: Path) -> list[str]:
    """The functions of attribution.py that call put_inbound: only attribute_inbound may."""
    tree = ast.parse((root / "outreach" / "attribution.py").read_text("utf-8"))
    callers: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute) and inner.attr in ("put_inbound", "set_inbound_campaigns"):
                    callers.append(node.name)
    return sorted(set(callers))


def test_inbound_rows_are_written_only_by_the_attribution_function() -> None:
    assert uses(KINDLING) == []
    assert callers_of_put_inbound(KINDLING) == ["attribute_inbound"]


def test_the_scan_finds_another_writer(tmp_path: Path) -> None:
    root = tmp_path / "kindling"
    (root / "outreach").mkdir(parents=True)
    (root / "inbox").mkdir()
    (root / "outreach" / "attribution.py").write_text(
        "def attribute_inbound(repo):\n    repo.put_inbound(1, 2)\n\ndef sneaky(repo):\n    repo.put_inbound(3, 4)\n"
    )
    (root / "inbox" / "service.py").write_text(
        "from kindling.outreach.repository import LinkedInInboundItem\nLinkedInInboundItem(pk='x').save()\n"
    )
    assert uses(root) == [
        "kindling/inbox/service.py: LinkedInInboundItem",
        "kindling/inbox/service.py: LinkedInInboundItem",
    ]
    assert callers_of_put_inbound(root) == ["attribute_inbound", "sneaky"]
