"""Invariants are cited by name (docs/invariants.md), never by a number nobody can look up."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CITED = re.compile(r"\binvariants? (\d+|[a-z]+(?:-[a-z]+)+)\b", re.IGNORECASE)  # a number, or a hyphenated name


def _named() -> set[str]:
    text = (REPO / "docs" / "invariants.md").read_text()
    return set(re.findall(r"^\| `([a-z-]+)` \|", text, re.MULTILINE))


def _tracked_sources() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.yaml", "*.md"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [REPO / name for name in listed if name != "docs/invariants.md" and (REPO / name).exists()]


def test_the_document_names_ten_invariants() -> None:
    assert len(_named()) == 10


def test_every_citation_names_a_documented_invariant() -> None:
    named = _named()
    wrong = [
        f"{path.relative_to(REPO)}: invariant {cited}"
        for path in _tracked_sources()
        for cited in CITED.findall(path.read_text(errors="replace"))
        if cited not in named
    ]
    assert wrong == []
