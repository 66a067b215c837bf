"""Domain events (reply.received, email.bounced, prospect.suppressed, limit.hit, ...): recorded once, with
dedup enforced at emission by a conditional write, then handed to the webhook pipeline.

- `catalog`: the event types, their payload fields and dedup rules; `emit_event`, the way to raise one.
- `service`, `repository`, `publisher`: record, list and publish events; `messages`: the webhook queue's message.
"""
