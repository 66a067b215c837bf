"""import-linter (and grimp under it) must see an import placed inside a function: the layering contract in
pyproject.toml is only worth something if a cycle hidden in a function body still breaks it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

CONFIG = """\
[importlinter]
root_package = probe

[importlinter:contract:layers]
name = high above low
type = layers
layers =
    probe.high
    probe.low
"""


def _package(root: Path, low_body: str) -> Path:
    pkg = root / "probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "high.py").write_text("from probe import low\n\nVALUE = low.value()\n")
    (pkg / "low.py").write_text(low_body)
    (root / ".importlinter").write_text(CONFIG)
    return root


UPWARD_IN_A_FUNCTION = "def value() -> int:\n    from probe import high\n\n    return len(high.__name__)\n"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_grimp_records_an_import_inside_a_function(tmp_path: Path) -> None:
    _package(tmp_path, UPWARD_IN_A_FUNCTION)
    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("probe", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "probe" or m.startswith("probe.")]:
            del sys.modules[name]
    details = graph.get_import_details(importer="probe.low", imported="probe.high")
    assert [d["line_number"] for d in details] == [2]


def test_a_layer_broken_only_inside_a_function_breaks_the_contract(tmp_path: Path) -> None:
    done = _lint(_package(tmp_path, UPWARD_IN_A_FUNCTION))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "high above low BROKEN" in done.stdout
    assert "probe.low -> probe.high (l.2)" in done.stdout


def test_the_same_package_without_the_upward_import_keeps_the_contract(tmp_path: Path) -> None:
    done = _lint(_package(tmp_path, "def value() -> int:\n    return 4\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "high above low KEPT" in done.stdout
