"""The audit log of assistant (MCP) tool calls: sanitised argument summaries, outcomes, a TTL."""
