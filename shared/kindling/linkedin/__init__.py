"""LinkedIn accounts, their limits and the provider client."""
