"""`make mutate`'s table names real files: a module moved or a test file renamed without updating bench/mutation.py
would make the mutation run mutate nothing, or run no test, without anyone noticing."""

from __future__ import annotations

from pathlib import Path

from bench.mutation import DESELECT, MODULES

REPO = Path(__file__).resolve().parents[2]


def test_every_mutated_module_and_its_tests_exist() -> None:
    assert MODULES
    for module in MODULES:
        assert (REPO / "shared" / module.path).is_file(), module
        assert module.tests, module
        for test in module.tests:
            assert (REPO / test).exists(), (module.name, test)
        source = (REPO / "shared" / module.path).read_text()
        for function in module.functions:
            assert f"def {function}(" in source, (module.name, function)


def test_every_deselected_test_exists() -> None:
    for node in DESELECT:
        path, _, name = node.partition("::")
        assert f"def {name}(" in (REPO / path).read_text(), node
