"""Only the outage rules set a mailbox's outage statuses: every engine reports through the health helper
(kindling.mailboxes.health / kindling.sending.mailbox_health), none writes `error` or `disconnected` itself."""

from __future__ import annotations

import ast
from pathlib import Path

KINDLING = Path(__file__).resolve().parents[3] / "shared" / "kindling"
OUTAGE_STATUSES = {"error", "disconnected"}
ALLOWED = {"kindling/mailboxes/outage.py"}


def _is_outage(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in OUTAGE_STATUSES


def outage_status_writers(root: Path) -> list[str]:
    """`<module path>:<line>` for each `status=<outage status>` (keyword, dict key, attribute assignment, or a
    constant named `..._STATUS`) outside the outage rules."""
    found: list[str] = []
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root.parent).as_posix()
        if relative in ALLOWED:
            continue
        for node in ast.walk(ast.parse(source.read_text("utf-8"), str(source))):
            hits: list[ast.AST] = []
            if isinstance(node, ast.keyword) and node.arg == "status" and _is_outage(node.value):
                hits.append(node.value)
            elif isinstance(node, ast.Dict):
                hits += [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "status" and _is_outage(v)
                ]
            elif isinstance(node, ast.Assign) and _is_outage(node.value):
                for target in node.targets:
                    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                    if name == "status" or name.endswith("_STATUS"):
                        hits.append(node.value)
            found += [f"{relative}:{getattr(hit, 'lineno', 0):05d}" for hit in hits]
    return sorted(found)


def test_only_the_outage_rules_write_the_outage_statuses() -> None:
    assert outage_status_writers(KINDLING) == []


def test_the_scan_flags_each_way_of_writing_an_outage_status(tmp_path: Path) -> None:
    root = tmp_path / "kindling"
    (root / "sending").mkdir(parents=True)
    (root / "mailboxes").mkdir(parents=True)
    (root / "sending" / "sender.py").write_text(
        'a = m.model_copy(update={"status": "error"})\n'  # 1
        'b = m.model_copy(update=dict(status="disconnected"))\n'  # 2
        "m.status = 'error'\n"  # 3
        'DISABLED_STATUS = "error"\n'  # 4
        'c = {"status": "connected", "health_status": "error"}\n'  # not an outage status write
        'def f(status: str = "error") -> None: ...\n'  # a default, not a write
    )
    (root / "mailboxes" / "outage.py").write_text('x = {"status": "disconnected"}\n')
    assert outage_status_writers(root) == [
        "kindling/sending/sender.py:00001",
        "kindling/sending/sender.py:00002",
        "kindling/sending/sender.py:00003",
        "kindling/sending/sender.py:00004",
    ]
