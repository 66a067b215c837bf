"""The LinkedIn provider emulator on 127.0.0.1 and a UnipileClient pointed at it, with an injected sleeper."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devstack.linkedin_provider import LinkedInProviderEmulator
from kindling.linkedin.provider import UnipileClient
from kindling.platform.clock import ManualClock

START = datetime(2026, 6, 10, 9, 0, 0, tzinfo=UTC)
# Calls to the emulator and receivers on 127.0.0.1 never go through a proxy the environment may name.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def emulator_clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emulator(emulator_clock: ManualClock) -> Iterator[LinkedInProviderEmulator]:
    with LinkedInProviderEmulator(clock=emulator_clock) as running:
        yield running


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(emulator: LinkedInProviderEmulator, sleeps: Sleeps) -> UnipileClient:
    return UnipileClient(emulator.api_url, emulator.api_key, sleep=sleeps)
