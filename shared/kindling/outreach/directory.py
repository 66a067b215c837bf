"""The real `LinkedInAccountDirectory` campaigns use (kindling.campaigns.linkedin_accounts): backed by the LinkedIn
accounts repository. It lives here, in the engine layer above both packages (campaigns may not import linkedin);
the composition roots (the API app, the engine's functions) install it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kindling.campaigns.linkedin_accounts import LinkedInAccountState, use_linkedin_directory
from kindling.platform.errors import NotFound

if TYPE_CHECKING:
    from kindling.linkedin.repository import LinkedInAccountRepository


class LinkedInAccountsDirectory:
    def __init__(self, repository: LinkedInAccountRepository | None = None) -> None:
        self._repo = repository

    def get(self, workspace_id: str, account_id: str) -> LinkedInAccountState | None:
        if self._repo is None:
            # cold start: the API app installs the directory; the accounts' repository loads on first use
            from kindling.linkedin.repository import LinkedInAccountRepository

            self._repo = LinkedInAccountRepository()
        try:
            account = self._repo.get(workspace_id, account_id)
        except NotFound:
            return None
        return LinkedInAccountState(status=account.status, account_type=account.account_type)


def install_directory() -> None:
    use_linkedin_directory(LinkedInAccountsDirectory())
