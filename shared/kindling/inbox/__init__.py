"""The product inbox: synced conversations and their messages, reply labels, and what an incoming message does
(stop the sequence, suppress, record a bounce, emit reply.received), plus replying from a connected mailbox.

- `sync`: one mailbox's sync run (folders, cursors) on top of `kindling.mail.imapsync`.
- `service`: the decision for one classified message (`decide`) and its effects; the inbox API's reads.
- `repository`, `models`: conversations, messages and per-folder sync cursors in the table.
"""
