"""Wire protocols and message formats: SMTP and IMAP sessions, MIME parsing, delivery and complaint reports,
outcome classification. Nothing here touches DynamoDB; it imports only `kindling.platform` and itself.

- `connection`: endpoints, TLS policy and certificate pins, the SMTP/IMAP connection tester and its failure classes.
- `providers`: the mail provider of a host or a domain (host suffixes, consumer domains, MX records) and presets.
- `smtp`: one pooled SMTP session per mailbox (`SmtpSender`), batches of `Outgoing` messages.
- `outcomes`: a reply code or exception -> `Outcome` (delivered, soft retry, hard bounce, auth failure...).
- `imapproto`: pure IMAP wire helpers (response tokenizer, FETCH/STATUS/LIST parsing, BODYSTRUCTURE).
- `imapsync`: a metered IMAP session, folder discovery, per-folder cursors, `sync_folder`, warmup actions.
- `parsing`: MIME -> `ParsedMessage` (size-capped bodies, attachment metadata, reply text extraction).
- `reports`: delivery reports (RFC 3464 DSNs and non-standard NDRs) and ARF complaints (RFC 5965).
- `labels`: the reply label rule table (one table) and `is_positive`.
- `classify`: warmup / complaint / bounce / out-of-office / reply decision for one message.
"""
