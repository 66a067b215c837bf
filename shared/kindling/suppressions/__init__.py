"""Suppressions (the blocklist): email and domain entries, and the one "is this address suppressed?" check."""
