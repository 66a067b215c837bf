"""Workspaces and API keys: creation, hashing, scopes, authentication."""
