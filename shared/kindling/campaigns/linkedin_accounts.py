"""What campaigns need to know about a LinkedIn account: whether it exists in the workspace, its status and its
type. The LinkedIn package owns accounts, and campaigns may not import it (same layer, independent), so the
lookup is injected: `LinkedInAccountDirectory`. Until the LinkedIn accounts are wired in, the default directory
knows no account, so a LinkedIn or multichannel campaign cannot start (preflight says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CONNECTED = "connected"


@dataclass(frozen=True)
class LinkedInAccountState:
    status: str  # the account's status in Kindling: connected, connecting, disconnected, needs_verification, ...
    account_type: str | None  # free / premium / sales_navigator / recruiter (None: unknown, treated as premium)


class LinkedInAccountDirectory(Protocol):
    def get(self, workspace_id: str, account_id: str) -> LinkedInAccountState | None:
        """The account's state, or None when the workspace has no such account (or it was deleted)."""
        ...


class NoLinkedInAccounts:
    """The default directory: no account exists (the LinkedIn accounts package replaces it once merged)."""

    def get(self, workspace_id: str, account_id: str) -> LinkedInAccountState | None:
        return None


_directory: LinkedInAccountDirectory = NoLinkedInAccounts()


def linkedin_directory() -> LinkedInAccountDirectory:
    """The directory `CampaignService` uses when none is passed to it."""
    return _directory


def use_linkedin_directory(directory: LinkedInAccountDirectory) -> LinkedInAccountDirectory:
    """Install the directory every `CampaignService` built without one uses (the composition root calls this
    once); returns the previous one so a caller can restore it."""
    global _directory
    previous, _directory = _directory, directory
    return previous


ACCOUNT_PROBLEM_TEXT = {
    "not_found": "no such LinkedIn account in this workspace",
    "not_connected": "the LinkedIn account is not connected",
}


def account_problem(state: LinkedInAccountState | None) -> str | None:
    """None when the account can act; else not_found / not_connected."""
    if state is None:
        return "not_found"
    if state.status != CONNECTED:
        return "not_connected"
    return None
