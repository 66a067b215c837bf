"""Warmup engine rules: ramp and strategies, health score, daily plan, peer pool, content, protection, stats.

Everything here is pure (time, randomness and network access are passed in), so the warmup tick, the
sender, inbox sync and the API can share one set of rules.
"""
