"""The LinkedIn provider emulator of the local stack (see emulator.py and README.md)."""

from devstack.linkedin_provider.emulator import LOCAL_API_KEY, LinkedInProviderEmulator

__all__ = ["LOCAL_API_KEY", "LinkedInProviderEmulator"]
