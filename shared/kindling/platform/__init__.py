"""Neutral platform pieces every layer may import: settings, clock, ids, errors, AWS clients, observability, the
single table's schema (`table`), keys (`keys`) and pynamodb plumbing with batch and transaction helpers
(`dynamo`), and the SQS sender helper (`queues`)."""
