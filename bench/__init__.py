"""Benchmarks (`make bench`): each area module exposes `run() -> dict[str, float]` and its figures are written
to bench/results/<area>.json (a flat object: figure name -> number, baselines beside ours, ratios as numbers)."""
