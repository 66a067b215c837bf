"""The prospect and sender most rendering tests use."""

from __future__ import annotations

import pytest

from kindling.rendering import RenderContext, build_context


@pytest.fixture
def context() -> RenderContext:
    return build_context(
        {"firstName": "Sarah", "lastName": "", "company": "Acme", "role": "CTO", "city": None},
        custom_fields={"plan_tier": "pro", "Department": "Sales", "score": 7, "vip": True},
        sender={"display_name": "Jordan Lee", "email_address": "jordan@send.test", "signature": "Jordan\nCEO"},
        unsubscribe_url="https://t.example/u/abc",
    )
