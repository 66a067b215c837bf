"""Kindling domain package: one module per concept (models, repository, service), plus `platform`."""
