"""Idempotency-Key handling: same key + same body replays the first response for 24 h; another body is 409."""
