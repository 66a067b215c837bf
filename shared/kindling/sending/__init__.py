"""The sending engine: the campaign scheduler and the sender, and what other parts ask of them.

- pure rules: `eligibility` (caps, windows, pacer), `rotation`, `windows`, `planning`, `backoff`, `circuit`;
- `compose`: the outgoing email (MIME, tracked links, List-Unsubscribe, threading); `tokens`: its signed tracking
  tokens (standard library only: the tracking function verifies them on its cold start);
- `messages`: the send queue (`SqsSendQueue`) and its campaign message (`SendMessage`);
- `scheduler` (the tick: claims due enrollments, queues messages), `sender` (the queue consumer: gate, SMTP through
  `kindling.mail.smtp`, outcomes), `service` (stop an enrollment, complaints, completion), `safety`, `watchdog`;
- `ledger`, `repository`: the send ledger and the engine's counters and state, which alone touch DynamoDB here.
"""
