"""Prospects and prospect lists: the people campaigns write to, deduplicated by case-insensitive email."""
