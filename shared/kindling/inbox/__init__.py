"""Inbox sync engine core: incremental IMAP sync, message parsing, classification and reply labels.

- `imapproto`: pure IMAP wire helpers (response tokenizer, FETCH/STATUS/LIST parsing, BODYSTRUCTURE).
- `imapsync`: a metered IMAP session, folder discovery, per-folder cursors, `sync_folder`, warmup actions.
- `parsing`: MIME -> `ParsedMessage` (size-capped bodies, attachment metadata, reply text extraction).
- `reports`: delivery reports (RFC 3464 DSNs and non-standard NDRs) and ARF complaints (RFC 5965).
- `labels`: the reply label rule table (one table) and `is_positive`.
- `classify`: warmup / complaint / bounce / out-of-office / reply decision for one message.
"""
