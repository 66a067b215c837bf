"""Per-workspace fixed-window rate limits backed by DynamoDB atomic counters (hold across Lambda instances)."""
