"""Neutral platform pieces every layer may import: settings, clock, ids, errors, AWS clients, observability."""
