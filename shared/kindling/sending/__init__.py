"""The sending engine's self-contained parts: pure rules (eligibility, rotation, windows, backoff, outcome
classification, circuit breakers), message building, and the SMTP session layer that speaks to providers.

Nothing here touches DynamoDB or reads settings: the scheduler and sender wire these onto stored campaigns,
enrollments and counters.
"""
