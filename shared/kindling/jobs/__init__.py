"""Asynchronous jobs: a job record, its items in batches, and the Step Functions run that processes them."""
