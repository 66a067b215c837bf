"""Mutation score of the pure rule modules: `make mutate` (or `python -m bench.mutation [module ...]`).

For each module below, mutmut (3.x) breaks the module on purpose, one small change (a "mutant") at a time, and runs
the module's unit tests against each mutant; a mutant the tests fail on is killed, one they pass on survived. The
figures go to bench/results/mutation.json: per module `<module>.killed`, `.survived`, `.total`, `.score_pct`
(killed / total, in percent), and `.survived_listed_equivalent` / `.survived_unexplained` (the survivors that
docs/decisions.md, section "Mutation testing", names as equivalent, with the reason, and the others); the same
summed over all modules under `all.*`, with `all.lowest_module_score_pct`. The goal is 90 per module.

Counting: a timeout counts as killed (the mutant made the tests hang, which a test run notices); a mutant no test
reaches ("no tests"), a suspicious one and one mutmut could not check count as survived. Listed equivalents still
count as survived in the score, so the score is what the tests prove, not what we claim.

mutmut names mutants after the module's import path and only knows the `src/` layout, so each module runs in a
scratch copy of the project, .kindling/mutation/<module>/, with shared/kindling laid out as src/kindling. The
module list is this file's MODULES table: one row per module, the only place to change when modules move.

`python -m bench.mutation --recount` re-reads the last run's results without running anything: after listing
equivalent survivors in docs/decisions.md, it refreshes `survived_listed_equivalent` / `survived_unexplained`.

Runs one module at a time, with at most 2 test processes (the machine is shared): about 30 minutes in all, most of
it in sending.windows, whose infinite-loop mutants each wait out mutmut's timeout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mutation.json"
SCRATCH = ROOT / ".kindling" / "mutation"
MAX_CHILDREN = 2


@dataclass(frozen=True)
class Module:
    """One pure rule module, the unit tests that check it and, for a module that mixes rules with I/O, the
    functions that are its rules (the others are not mutated)."""

    name: str
    path: str  # under shared/
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()


MODULES: tuple[Module, ...] = (
    Module("sending.eligibility", "kindling/sending/eligibility.py", ("tests/unit/sending",)),
    Module("sending.windows", "kindling/sending/windows.py", ("tests/unit/sending",)),
    Module("sending.planning", "kindling/sending/planning.py", ("tests/unit/sending",)),
    Module("sending.backoff", "kindling/sending/backoff.py", ("tests/unit/sending",)),
    Module("sending.circuit", "kindling/sending/circuit.py", ("tests/unit/sending",)),
    Module("warmup.ramp", "kindling/warmup/ramp.py", ("tests/unit/warmup",)),
    Module("warmup.health", "kindling/warmup/health.py", ("tests/unit/warmup",)),
    Module("warmup.planner", "kindling/warmup/planner.py", ("tests/unit/warmup",)),
    Module("webhooks.signing", "kindling/webhooks/signing.py", ("tests/unit/webhooks",)),
    Module("webhooks.retry", "kindling/webhooks/retry.py", ("tests/unit/webhooks",)),
    Module(
        "tracking.tokens",  # the signed tracking tokens, which live beside the message builder
        "kindling/sending/tokens.py",
        (
            "tests/unit/tracking/test_tokens.py",
            "tests/unit/tracking/test_token_edges.py",
            "tests/unit/tracking/test_service.py",
            "tests/unit/sending/test_compose.py",
        ),
    ),
    Module(
        "idempotency.rules",
        "kindling/idempotency/service.py",
        ("tests/unit/platform/test_pure_rules.py", "tests/unit/platform/test_idempotency_and_cursor_edges.py"),
        functions=("request_fingerprint", "validate_key", "_without_multipart_boundary"),
    ),
    Module(
        "platform.cursor",
        "kindling/platform/dynamo.py",
        ("tests/unit/platform/test_pure_rules.py", "tests/unit/platform/test_idempotency_and_cursor_edges.py"),
        functions=("encode_cursor", "decode_cursor"),
    ),
    Module(
        "linkedin.limits",
        "kindling/linkedin/limits.py",
        ("tests/unit/linkedin/test_limits.py", "tests/unit/linkedin/test_overrides.py"),
    ),
    Module("linkedin.dispositions", "kindling/linkedin/dispositions.py", ("tests/unit/linkedin/test_dispositions.py",)),
)

# Tests that check something other than the module's code and cannot run in the scratch copy: they read files
# outside the repository or start a Python process on the repository's own shared/ folder.
DESELECT = (
    "tests/unit/webhooks/test_signing_and_retry.py::test_the_snippet_is_the_reference_text",
    "tests/unit/tracking/test_tokens.py::test_the_module_imports_only_the_standard_library",
)

KILLED = frozenset({"killed", "timeout", "caught by type check"})
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "swagger-ui")


def module_path(module: Module) -> str:
    """The import path of the module's file (what mutmut names its mutants after)."""
    return module.path.removesuffix(".py").replace("/", ".")


def stage(module: Module) -> Path:
    """A fresh scratch copy of the project in the src/ layout mutmut understands."""
    work = SCRATCH / module.name
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(ROOT / "shared" / "kindling", work / "src" / "kindling", ignore=IGNORE)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=IGNORE)
    shutil.copytree(ROOT / "devstack", work / "devstack", ignore=IGNORE)
    tests = ", ".join(json.dumps(t) for t in module.tests)
    deselect = ", ".join(f'"--deselect", {json.dumps(t)}' for t in DESELECT)
    (work / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'pythonpath = ["."]\n'
        'addopts = "-p no:cacheprovider"\n'
        'markers = ["mail: needs the local mail servers", "slow: long-running property/fuzz tests"]\n'
        'filterwarnings = ["ignore::DeprecationWarning"]\n'
        "\n[tool.mutmut]\n"
        'source_paths = ["src/kindling"]\n'
        f'only_mutate = ["src/{module.path}"]\n'
        'also_copy = ["devstack"]\n'
        f"pytest_add_cli_args = [{deselect}]\n"
        "use_git_change_detection = false\n"
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
    )
    return work


def run_module(module: Module) -> dict[str, int]:
    work = stage(module)
    names = [f"{module_path(module)}.x_{f}__mutmut_*" for f in module.functions]
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(MAX_CHILDREN), *names]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    log = work / "mutmut.log"
    with log.open("w") as out:
        completed = subprocess.run(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"mutmut failed on {module.name} (exit {completed.returncode}); see {log}")
    return count(module, work)


def listed_equivalent() -> frozenset[str]:
    """The mutants docs/decisions.md lists as equivalent (section "Mutation testing"), by name."""
    text = (ROOT / "docs" / "decisions.md").read_text()
    section = text.partition("## Mutation testing")[2].partition("\n## ")[0]
    return frozenset(re.findall(r"kindling\.[\w.\u01c1]+__mutmut_\d+", section))


def count(module: Module, work: Path) -> dict[str, int]:
    from mutmut.stats import status_by_exit_code

    meta = json.loads((work / "mutants" / "src" / f"{module.path}.meta").read_text())
    prefix = module_path(module) + "."
    statuses: dict[str, str] = {}
    for key, exit_code in meta["exit_code_by_key"].items():
        function = key.removeprefix(prefix).partition("__mutmut_")[0].removeprefix("x_")
        if module.functions and function not in module.functions:
            continue
        statuses[key] = status_by_exit_code[exit_code]
    survivors = sorted(k for k, s in statuses.items() if s not in KILLED)
    with (work / "survivors.txt").open("w") as out:
        for key in survivors:
            shown = subprocess.run(
                [sys.executable, "-m", "mutmut", "show", key], cwd=work, capture_output=True, text=True, check=False
            )
            diff = [line for line in shown.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
            note = " (listed as equivalent)" if key in listed_equivalent() else ""
            out.write(f"{key}: {statuses[key]}{note}\n" + "".join(f"    {line}\n" for line in diff))
    killed = len(statuses) - len(survivors)
    listed = len(set(survivors) & listed_equivalent())
    return {
        "killed": killed,
        "survived": len(survivors),
        "total": len(statuses),
        "survived_listed_equivalent": listed,
        "survived_unexplained": len(survivors) - listed,
    }


def main(argv: list[str]) -> int:
    recount = "--recount" in argv  # re-read the last run's results (after listing equivalents), run nothing
    argv = [a for a in argv if a != "--recount"]
    chosen = [m for m in MODULES if not argv or m.name in argv]
    unknown = sorted(set(argv) - {m.name for m in MODULES})
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; known: {', '.join(m.name for m in MODULES)}", file=sys.stderr)
        return 2
    figures: dict[str, float] = json.loads(RESULTS.read_text()) if RESULTS.exists() and (argv or recount) else {}
    for module in chosen:
        started = time.perf_counter()
        counts = count(module, SCRATCH / module.name) if recount else run_module(module)
        for key, value in counts.items():
            figures[f"{module.name}.{key}"] = value
        figures[f"{module.name}.score_pct"] = round(100 * counts["killed"] / max(counts["total"], 1), 1)
        print(
            f"{module.name}: {counts['killed']}/{counts['total']} killed "
            f"({figures[f'{module.name}.score_pct']}%), {counts['survived']} survived "
            f"({time.perf_counter() - started:.0f}s); survivors in {SCRATCH / module.name / 'survivors.txt'}"
        )
    names = {m.name for m in MODULES}
    figures = {k: v for k, v in figures.items() if k.rpartition(".")[0] in names}  # drop modules no longer listed
    measured = sorted({k.rpartition(".")[0] for k in figures})
    summed = {
        key: sum(int(figures.get(f"{n}.{key}", 0)) for n in measured)
        for key in ("killed", "survived", "total", "survived_listed_equivalent", "survived_unexplained")
    }
    figures.update({f"all.{key}": value for key, value in summed.items()})
    figures["all.score_pct"] = round(100 * summed["killed"] / max(summed["total"], 1), 1)
    figures["all.lowest_module_score_pct"] = min(figures[f"{n}.score_pct"] for n in measured)
    RESULTS.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(
        f"all: {summed['killed']}/{summed['total']} killed ({figures['all.score_pct']}%), lowest module "
        f"{figures['all.lowest_module_score_pct']}%; figures in {RESULTS.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
