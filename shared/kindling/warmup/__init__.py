"""Warmup: the peer pool that sends, opens, replies to and rescues warmup email between connected mailboxes.

- pure rules (time, randomness and network access passed in): `ramp`, `health`, `planner`, `pool`, `content`,
  `protection`, `counters`, `stats`, `seeds`;
- `service` (the API's warmup settings and the bulk update job, registered in `jobs`), `repository` (state and
  daily counters), `pool_index` (the pool, ticks and exchanges), `blocklist` (the global domain blocklist and
  `record_bounce`): the DynamoDB side;
- the engine: `engine` (the tick: plans and queues `messages.WarmupSendMessage`s), `delivery` (the sender
  function's warmup path, SMTP through `kindling.mail.smtp`), `receiving` (what the inbox sync does with a
  warmup email: move it out of spam, open, reply).
"""
