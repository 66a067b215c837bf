"""The LinkedIn scheduler's idle tick costs the same whatever is enrolled (issue 18: "its idle tick must not grow
with enrolment"): DynamoDB requests counted on the client's own request events, provider calls on the emulator."""

from __future__ import annotations

from typing import Any

from kindling.platform.dynamo import TableModel
from kindling.prospects.models import ProspectCreate
from kindling.prospects.service import ProspectService
from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import VIEW

CLOSED = {"scheduleDays": [1, 2, 3, 4, 5], "sendingWindows": [{"start": "10:00", "end": "11:00"}]}


class _Requests:
    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.append(str(model.name))


def _idle_tick_cost(engine: Engine, enrolled: int, tag: str) -> tuple[int, int]:
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]], timezone="America/New_York", **CLOSED)
    engine.start(cid)
    service = ProspectService()
    ids = [
        service.create(
            engine.world.tenant.workspace_id,
            ProspectCreate(email=f"{tag}{n}@example.com", linkedin_url=f"https://www.linkedin.com/in/{tag}-{n}"),
        )[0].id
        for n in range(enrolled)
    ]
    engine.enroll(cid, ids)
    engine.tick()  # every enrollment moves to the window's opening (hours ahead): nothing is due any more
    engine.world.advance(60)
    client = TableModel._get_connection().connection.client
    counter = _Requests()
    client.meta.events.register("before-call.dynamodb", counter)
    calls_before = len(engine.emulator.requests)
    try:
        engine.scheduler.tick()
    finally:
        client.meta.events.unregister("before-call.dynamodb", counter)
    return len(counter.operations), len(engine.emulator.requests) - calls_before


def test_an_idle_tick_costs_the_same_at_10_and_at_150_enrolled(engine: Engine) -> None:
    small = _idle_tick_cost(engine, 10, "small")
    large = _idle_tick_cost(engine, 150, "large")
    assert small == large
    requests, provider_calls = large
    assert provider_calls == 0
    assert requests == 9  # 8 due shards and the parked-campaign watch
