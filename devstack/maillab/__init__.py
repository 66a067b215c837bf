"""The local mail lab: SMTP submission servers delivering into a real IMAP server (Dovecot or pymap)."""

from devstack.maillab.backend import MailLabError
from devstack.maillab.lab import DEMO_ACCOUNTS, PROVIDERS, MailAccount, MailLab, junk_verdict

__all__ = ["DEMO_ACCOUNTS", "PROVIDERS", "MailAccount", "MailLab", "MailLabError", "junk_verdict"]
