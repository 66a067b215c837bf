"""A concept's pynamodb Items are its own: another package reaches its data through its repository functions.
Only the sending ledger (sending/ledger.py and sending/repository.py) imports other concepts' Items, for the
cross-entity transactions it commits (issue 16)."""

from __future__ import annotations

import ast
from pathlib import Path

KINDLING = Path(__file__).resolve().parents[3] / "shared" / "kindling"
LEDGER = {"kindling/sending/ledger.py", "kindling/sending/repository.py"}


def foreign_item_imports(root: Path) -> list[str]:
    """`<module path>: <name> from <module>` for each Item imported from another package's repository."""
    found: list[str] = []
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root.parent).as_posix()
        parts = relative.split("/")
        own = parts[1] if len(parts) > 2 else None
        if relative in LEDGER:
            continue
        for node in ast.walk(ast.parse(source.read_text("utf-8"), str(source))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            module = node.module.split(".")
            if len(module) != 3 or module[0] != "kindling" or module[2] != "repository" or module[1] == own:
                continue
            found += [f"{relative}: {a.name} from {node.module}" for a in node.names if a.name.endswith("Item")]
    return found


def test_only_the_sending_ledger_imports_another_concepts_items() -> None:
    assert foreign_item_imports(KINDLING) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "kindling" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "kindling"


def test_the_scan_flags_a_foreign_item_outside_the_ledger_and_allows_it_inside(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "prospects/repository.py": "class MemberItem: ...\nclass ProspectItem: ...\n",
            "prospects/service.py": "from kindling.prospects.repository import MemberItem\n",
            "imports/service.py": "from kindling.prospects.repository import MemberItem, new_member\n",
            "sending/scheduler.py": "def f() -> None:\n    from kindling.prospects.repository import ProspectItem\n",
            "sending/ledger.py": "from kindling.prospects.repository import ProspectItem\n",
            "sending/repository.py": "from kindling.prospects.repository import MemberItem\n",
            "sending/sender.py": "from kindling.sending.repository import SendStateItem\n",
            "campaigns/service.py": "from kindling.prospects.models import ProspectItem\n",
        },
    )
    assert foreign_item_imports(root) == [
        "kindling/imports/service.py: MemberItem from kindling.prospects.repository",
        "kindling/sending/scheduler.py: ProspectItem from kindling.prospects.repository",
    ]
