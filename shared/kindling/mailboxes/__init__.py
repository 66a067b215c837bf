"""Mailboxes: connected SMTP/IMAP accounts, their encrypted credentials, provider presets, the connection check
queue and the mailbox repository (also the list of connected mailboxes across workspaces). The wire side of a
connection test lives in `kindling.mail.connection`, provider detection in `kindling.mail.providers`."""
