"""The MCP function's campaign tools see the workspace's real LinkedIn accounts, as the REST API's do: without the
installed directory every LinkedIn campaign would look accountless and `resume_linkedin_campaign` would always
refuse with `unusable_linkedin_accounts` on a deployed stack."""

from __future__ import annotations

from kindling.assistants.server import create_app
from kindling.campaigns.linkedin_accounts import NoLinkedInAccounts, linkedin_directory, use_linkedin_directory
from kindling.outreach.directory import LinkedInAccountsDirectory


def test_building_the_mcp_app_installs_the_linkedin_account_directory() -> None:
    previous = use_linkedin_directory(NoLinkedInAccounts())
    try:
        create_app()
        assert isinstance(linkedin_directory(), LinkedInAccountsDirectory)
    finally:
        use_linkedin_directory(previous)
