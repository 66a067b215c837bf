"""The account's activity tallies (issue 18: "Every success event and its counters (today's and this week's invites,
messages, connections) are written in one transaction"; help center L5131-5143, LL#261: the daily tiles
`invites_sent_today`, `messages_sent_today`, `connections_today` are incremented in the same transaction as the
success event row). Through the engine, the provider emulator over HTTP and the accounts API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from bench.support import count_aws_requests
from kindling.events.repository import EventItem
from kindling.platform.dynamo import TableModel
from kindling.platform.keys import workspace_key
from tests.integration.outreach.conftest import Engine
from tests.support.linkedin_steps import INVITE, MESSAGE, VIEW, WAIT


def _activity(engine: Engine, account: dict[str, Any]) -> dict[str, Any]:
    view = engine.world.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    return dict(view["activity"])


def _usage_of(engine: Engine, account: dict[str, Any]) -> dict[str, int]:
    view = engine.world.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    return {name: int(limit["used"]) for name, limit in view["limits"].items()}


def _events(engine: Engine, event_type: str) -> list[dict[str, Any]]:
    items = EventItem.gsi1.query(workspace_key(engine.world.tenant.workspace_id, "EVENT"))
    return [json.loads(i.data) for i in items if isinstance(i, EventItem) and i.event_type == event_type]


@contextmanager
def _transactions() -> Iterator[list[list[tuple[str, str]]]]:
    """The (pk, sk) of every item in each TransactWriteItems request sent meanwhile."""
    client = TableModel._get_connection().connection.client
    seen: list[list[tuple[str, str]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys = []
        for entry in params["TransactItems"]:
            key = next(iter(entry.values()))
            key = key.get("Key") or key.get("Item")
            keys.append((key["pk"]["S"], key["sk"]["S"]))
        seen.append(keys)

    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    try:
        yield seen
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", record)


def test_invites_connections_and_messages_are_tallied_for_today_and_this_week_and_shown_by_the_accounts_api(
    engine: Engine,
) -> None:
    engine.world.clock.set(datetime.fromisoformat("2026-06-10T09:00:00+00:00"))  # a Wednesday
    account = engine.world.connect()
    cid = engine.campaign([VIEW, INVITE, WAIT, MESSAGE], [account["id"]])
    engine.start(cid)
    pid = engine.prospect("ada-byron")
    engine.enroll(cid, [pid])
    engine.run(minutes=1)
    engine.world.clock.set(engine.enrollment(cid, pid).next_send_at)
    engine.run(minutes=1)
    assert len(engine.invitations_to("ada-byron")) == 1
    activity = _activity(engine, account)
    assert (activity["day"], activity["week_of"]) == ("2026-06-10", "2026-06-08")
    assert activity["today"] == {
        "views": 1,
        "invites": 1,
        "messages": 0,
        "inmails": 0,
        "engagements": 0,
        "connections": 0,
    }
    engine.world.advance(3600)
    engine.emulator.accept_invitation(engine.invitations_to("ada-byron")[0].id)  # the webhook stamps it
    engine.sweeps.poll_relations()  # the poll sees the same relation: counted once
    assert _activity(engine, account)["today"]["connections"] == 1
    engine.world.clock.set(engine.enrollment(cid, pid).next_send_at)
    engine.run(minutes=1)
    assert engine.enrollment(cid, pid).status == "completed"
    activity = _activity(engine, account)
    assert activity["today"] == activity["this_week"]
    assert (activity["today"]["invites"], activity["today"]["messages"], activity["today"]["connections"]) == (
        1,
        1,
        1,
    )
    assert [e["enrollmentId"] for e in _events(engine, "linkedin.message_sent")] == [
        engine.enrollment(cid, pid).enrollment_id
    ]
    assert len(_events(engine, "linkedin.invite_accepted")) == 1


def test_the_day_tally_starts_again_at_midnight_utc_and_the_week_tally_on_monday(engine: Engine) -> None:
    engine.world.clock.set(datetime.fromisoformat("2026-06-14T23:50:00+00:00"))  # a Sunday
    account = engine.world.connect()
    cid = engine.campaign([VIEW], [account["id"]])
    engine.start(cid)
    engine.enroll(cid, [engine.prospect("grace-hopper")])
    engine.run(minutes=1)
    activity = _activity(engine, account)
    assert (activity["today"]["views"], activity["this_week"]["views"], activity["week_of"]) == (1, 1, "2026-06-08")
    engine.world.clock.set(datetime.fromisoformat("2026-06-15T00:00:00+00:00"))  # Monday 00:00 UTC
    activity = _activity(engine, account)
    assert (activity["day"], activity["week_of"]) == ("2026-06-15", "2026-06-15")
    assert (activity["today"]["views"], activity["this_week"]["views"]) == (0, 0)
    engine.enroll(cid, [engine.prospect("katherine-johnson")])
    engine.run(minutes=1)
    engine.world.clock.set(datetime.fromisoformat("2026-06-16T10:00:00+00:00"))  # Tuesday
    activity = _activity(engine, account)
    assert (activity["today"]["views"], activity["this_week"]["views"]) == (0, 1)


def test_a_message_its_tallies_and_its_event_are_written_in_the_success_transaction(engine: Engine) -> None:
    cid, pid, account = engine.invited("emmy-noether")
    engine.emulator.accept_invitation(engine.invitations_to("emmy-noether")[0].id)
    engine.world.clock.set(engine.enrollment(cid, pid).next_send_at)
    with _transactions() as transactions:
        engine.run(minutes=1)
    ws = engine.world.tenant.workspace_id
    usage = workspace_key(ws, "LIUSAGE", account["id"])
    success = [t for t in transactions if (usage, "ACT#day#" + engine.world.clock.now().date().isoformat()) in t]
    assert len(success) == 1, transactions  # the tallies went in one transaction, once
    keys = success[0]
    assert any(pk == workspace_key(ws, "CAMPAIGN", cid) and sk.startswith("ENROLL#") for pk, sk in keys), keys
    assert any(pk.startswith(workspace_key(ws, "EVENT")) for pk, _ in keys), keys  # the event row
    assert sum(1 for pk, sk in keys if pk == usage and sk.startswith("ACT#")) == 2  # the day and the week
    assert engine.enrollment(cid, pid).status == "completed"
    assert len(_events(engine, "linkedin.message_sent")) == 1


def test_one_member_invited_in_two_campaigns_from_one_account_is_one_connection(engine: Engine) -> None:
    account = engine.world.connect()
    pid = engine.prospect("sofia-kovalevskaya")
    campaigns = []
    for _ in range(2):
        cid = engine.campaign([INVITE, WAIT], [account["id"]])
        engine.start(cid)
        engine.enroll(cid, [pid])
        campaigns.append(cid)
    engine.run(minutes=3)
    assert all(engine.enrollment(cid, pid).li_invited_at is not None for cid in campaigns)
    assert len(engine.invitations_to("sofia-kovalevskaya")) == 1  # the second campaign found it pending
    assert _activity(engine, account)["today"]["invites"] == 1  # and sent nothing: nothing tallied
    assert _usage_of(engine, account)["invites_week"] == 1  # and its cap slot was given back
    engine.emulator.accept_invitation(engine.invitations_to("sofia-kovalevskaya")[0].id)
    assert all(engine.enrollment(cid, pid).li_accepted_at is not None for cid in campaigns)
    assert _activity(engine, account)["today"]["connections"] == 1


INMAIL = {
    "type": "linkedin",
    "linkedinActionType": "send_inmail",
    "linkedinSubject": "A question, {{firstName}}",
    "linkedinMessageTemplate": "Hello {{firstName}}, a short question.",
    "delayDays": 0,
}


def test_an_inmail_step_is_tallied_as_what_went_out(engine: Engine) -> None:
    """An InMail step sends an InMail to someone outside the network, and a plain message to a 1st-degree
    connection (no InMail credit is used): the account's tallies say which."""
    account = engine.world.connect(account_type="sales_navigator")
    stranger, friend = engine.prospect("lise-meitner"), engine.prospect("chien-shiung-wu")
    member = engine.emulator._profile_for("chien-shiung-wu").provider_id
    engine.emulator.relations.setdefault(engine.provider_account(account), {})[member] = engine.world.clock.now()
    cid = engine.campaign([INMAIL], [account["id"]])
    engine.start(cid)
    engine.enroll(cid, [stranger, friend])
    engine.run(minutes=2)
    assert all(engine.enrollment(cid, pid).status == "completed" for pid in (stranger, friend))
    kinds = sorted((c.inmail, c.attendee_provider_id == member) for c in engine.emulator.chats.values())
    assert kinds == [(False, True), (True, False)]
    today = _activity(engine, account)["today"]
    assert (today["inmails"], today["messages"]) == (1, 1)
    assert engine.stats(cid)[0]["messages"] == 2  # the campaign counts both as the step's messages


def test_the_account_view_reads_its_cap_usage_and_its_tallies_in_one_batch(engine: Engine) -> None:
    account = engine.world.connect()
    with count_aws_requests() as counts:
        view = engine.world.ok("GET", f"/api/v1/linkedin/accounts/{account['id']}")
    assert counts["dynamodb.BatchGetItem"] == 1
    assert view["limits"]["invites_week"]["used"] == 0 and view["activity"]["this_week"]["invites"] == 0
