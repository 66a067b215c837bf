"""Shared fixtures: moto-backed AWS with the real table, an injectable clock, a workspace with a key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from kindling.auth.scopes import ALL_SCOPES
from kindling.platform.clock import ManualClock, set_clock
from tests.support.aws import moto_table

pytest_plugins = ["tests.maillab_plugin"]

START = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    yield manual
    set_clock(previous)


@pytest.fixture
def aws() -> Iterator[None]:
    with moto_table():
        yield


@dataclass(frozen=True)
class Tenant:
    workspace_id: str
    key_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_tenant(scopes: tuple[str, ...] = ALL_SCOPES, name: str = "Acme") -> Tenant:
    from kindling.auth.service import AuthService

    service = AuthService()
    workspace = service.create_workspace(name)
    key, token = service.create_api_key(workspace.id, name="tests", scopes=scopes)
    return Tenant(workspace.id, key.id, token)


@pytest.fixture
def tenant(aws: None, clock: ManualClock) -> Tenant:
    return make_tenant()
