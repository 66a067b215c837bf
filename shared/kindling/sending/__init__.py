"""The sending engine: pure rules (eligibility, rotation, windows, backoff, outcome classification, circuit
breakers), message building and the SMTP session layer; and their wiring onto stored campaigns, enrollments and
counters (ledger, repository, scheduler, sender, safety, watchdog), which alone touch DynamoDB.
"""
