"""A plain clone passes `make test`: no test, benchmark, script or runtime code reads anything outside the repository.

The project's reference material (the WarmySender API reference and help center, the design notes) lives beside
the repository on the founders' machines, not in it: a test that reads it passes there and fails in every other
clone. What a test needs from it is copied into tests/fixtures/reference with its source named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Everything that runs: runtime code, handlers, the local stack, tests, benchmarks, scripts and build files.
SCANNED_DIRS = (".ci", "bench", "devstack", "events", "functions", "layers", "scripts", "shared", "statemachines")
SCANNED_DIRS += ("tests", "tools")
SCANNED_ROOT_FILES = ("Makefile", "pyproject.toml", "template.yaml", "samconfig.toml", "requirements-dev.txt")
SCANNED_SUFFIXES = {".py", ".sh", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".json", ".txt", ""}
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "fixtures"}

_DOTS = re.escape("..")
FORBIDDEN = [
    # the sibling folder itself, however it is spelled
    re.compile(_DOTS + r"[/\\]+shared\b"),
    re.compile(r"""["']\.\.["']\s*[,/]\s*["']shared["']"""),
    # its contents, as a path or as pathlib parts
    re.compile(r"\bshared[/\\]+(reference|spec)\b"),
    re.compile(r"""["']shared["']\s*[,/]\s*["'](reference|spec)["']"""),
    # the reference files by name
    re.compile(r"warmysender-(help-center|api-reference|campaign-api-guide)\.txt"),
    re.compile(r"help-center-inventory\.md"),
    # the machine's own layout
    re.compile(r"/work/(shared|main|wt|prompts)\b"),
]
_PARENTS = re.compile(r"Path\(__file__\)(?:\.resolve\(\)|\.absolute\(\))?\.parents\[(\d+)\]")
_PARENT_CHAIN = re.compile(r"Path\(__file__\)(?:\.resolve\(\)|\.absolute\(\))?((?:\.parent\b)+)")


def outside_references(relative: Path, text: str) -> list[str]:
    """The lines of a repository file (path relative to the repository) that reach outside the repository."""
    # A file at a/b/c.py: parents[0] is a/b, parents[1] is a, parents[2] the repository, parents[3] outside.
    highest = len(relative.parts) - 1
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if any(pattern.search(line) for pattern in FORBIDDEN):
            found.append(f"{relative}:{number}: {line.strip()}")
            continue
        levels = [int(m.group(1)) for m in _PARENTS.finditer(line)]
        levels += [m.group(1).count(".parent") - 1 for m in _PARENT_CHAIN.finditer(line)]
        if any(level > highest for level in levels):
            found.append(f"{relative}:{number}: {line.strip()} (climbs above the repository)")
    return found


def scanned_files() -> Iterator[Path]:
    for name in SCANNED_ROOT_FILES:
        if (REPO / name).is_file():
            yield REPO / name
    for directory in SCANNED_DIRS:
        for path in sorted((REPO / directory).rglob("*")):
            parts = set(path.relative_to(REPO).parts)
            if path == Path(__file__).resolve():
                continue  # this file spells the forbidden paths out to test the scan
            if path.is_file() and path.suffix in SCANNED_SUFFIXES and not parts & SKIPPED_PARTS:
                yield path


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        ("tests/unit/webhooks/test_x.py", 'HELP = Path(__file__).resolve().parents[4] / "shared" / "reference"'),
        ("tests/unit/webhooks/test_x.py", 'HELP = Path(__file__).resolve().parents[4] / "notes.txt"'),
        ("tests/unit/webhooks/test_x.py", "HELP = Path(__file__).parent.parent.parent.parent.parent / 'x.txt'"),
        ("tests/unit/x.py", 'open("../sha' + "red/refer" + 'ence/anything.txt")'),  # split: repo-wide greps stay quiet
        ("bench/x.py", 'Path("..", "shared") / "spec" / "decisions.md"'),
        ("shared/kindling/x.py", '"""docs: ' + "..\\" + 'shared\\spec\\decisions.md"""'),
        ("Makefile", "\tcat " + "/work/" + "shared/design.md"),
        ("scripts/x.sh", "grep -c . reference/warmysender-help-center" + ".txt"),
    ],
)
def test_the_scan_finds_paths_outside_the_repository(relative: str, line: str) -> None:
    assert outside_references(Path(relative), line) != []


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        # the repository's own domain package is shared/kindling, and the fixtures sit under tests/
        ("tests/integration/x/test_y.py", "REPO = Path(__file__).resolve().parents[3]"),
        ("tests/unit/webhooks/test_x.py", 'Path(__file__).resolve().parents[2] / "fixtures" / "reference"'),
        ("tests/conftest.py", "REPO = Path(__file__).parent.parent"),
        ("tests/unit/webhooks/test_x.py", "REPO = Path(__file__).parent.parent.parent.parent"),
        ("pyproject.toml", 'pythonpath = [".", "shared"]'),
        ("template.yaml", "      ContentUri: shared/"),
        ("shared/kindling/x.py", "from kindling.platform.settings import get_settings"),
    ],
)
def test_the_scan_accepts_paths_inside_the_repository(relative: str, line: str) -> None:
    assert outside_references(Path(relative), line) == []


def test_no_code_reads_anything_outside_the_repository() -> None:
    files = list(scanned_files())
    assert len(files) > 300  # the scan walks the repository, not an empty folder
    found = [hit for path in files for hit in outside_references(path.relative_to(REPO), path.read_text("utf-8"))]
    assert found == []
