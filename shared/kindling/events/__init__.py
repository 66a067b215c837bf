"""Domain events (reply.received, email.bounced, prospect.suppressed, limit.hit, ...): recorded once, with
dedup enforced at emission by a conditional write, then handed to the webhook pipeline."""
