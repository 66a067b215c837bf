"""Campaigns: steps with weighted variants, settings, the status machine, preflight and preview."""
