"""Bounce Shield (help center §14): workspace-level bounce protection, and the per-campaign failure-rate guard."""
