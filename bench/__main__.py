"""Run the benchmarks: `python -m bench [area ...]` (every default area when none are named).

`safety_month` (the simulated month of issue 15) runs only when named: it takes many minutes and checks safety
rules rather than measuring speed, so `make bench` leaves it out."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

AREAS = (
    "coldstart",
    "imports",
    "webhooks",
    "rendering",
    "enrollments",
    "sender",
    "inbox_sync",
    "tracking",
    "scheduler",
    "warmup",
    "linkedin",
    "safety_month",
)
ON_REQUEST = ("safety_month",)  # not in the default run (see the module docstring)
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    areas = argv or [a for a in AREAS if a not in ON_REQUEST]
    unknown = sorted(set(areas) - set(AREAS))
    if unknown:
        print(f"unknown benchmark area(s): {', '.join(unknown)}; known: {', '.join(AREAS)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    for area in areas:
        started = time.perf_counter()
        figures = importlib.import_module(f"bench.{area}").run()
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in figures.values()):
            raise TypeError(f"bench.{area} must return a flat name -> number mapping")
        (RESULTS / f"{area}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"{area}: {json.dumps(figures, sort_keys=True)} ({time.perf_counter() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
