"""UnipileClient against the provider emulator over real HTTP: every Protocol method, every fault control, and the
retry policy (reads and idempotent calls retried honouring Retry-After; invitations and messages never re-sent)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest

from devstack.linkedin_provider import LinkedInProviderEmulator
from devstack.linkedin_provider.emulator import ApiError
from kindling.linkedin.provider import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_ATTEMPTS,
    READ_TIMEOUT_SECONDS,
    LinkedInProvider,
    ProviderError,
    UnipileClient,
)
from kindling.platform.clock import ManualClock
from tests.integration.linkedin.conftest import DIRECT, START, Sleeps


def control(emulator: LinkedInProviderEmulator, path: str, body: dict[str, object] | None = None) -> object:
    request = urllib.request.Request(  # noqa: S310 - the emulator on 127.0.0.1
        emulator.control_url + path,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with DIRECT.open(request, timeout=5) as response:
        return json.loads(response.read())


def calls(emulator: LinkedInProviderEmulator, method: str, path_start: str) -> int:
    return sum(1 for m, p in emulator.requests if m == method and p.startswith(path_start))


def test_the_client_has_every_method_of_the_protocol(client: UnipileClient) -> None:
    # Signatures are checked by mypy (provider.py's TYPE_CHECKING block); this checks every method exists.
    assert isinstance(client, LinkedInProvider)
    assert not isinstance(object(), LinkedInProvider)


# --- accounts and hosted auth ------------------------------------------------------------------------------------


def test_hosted_auth_connects_an_account_the_client_then_reads(
    client: UnipileClient, emulator: LinkedInProviderEmulator
) -> None:
    url = client.create_hosted_auth_link(
        name="pending-connection-1", notify_url="http://127.0.0.1:9/notify", expires_at=START + timedelta(minutes=10)
    )
    assert url.startswith(emulator.root_url + "/hosted/")
    token = url.rsplit("/", 1)[1]
    link = emulator.links[token]
    assert (link.type, link.name, link.expires_at) == ("create", "pending-connection-1", START + timedelta(minutes=10))
    linked = control(emulator, f"/hosted/{token}/complete", {"name": "Ada Lovelace", "account_type": "sales_navigator"})
    assert isinstance(linked, dict)
    account = client.get_account(linked["account_id"])
    assert (account.name, account.status, account.account_type) == ("Ada Lovelace", "OK", "sales_navigator")
    assert account.created_at == START
    assert [a.id for a in client.list_accounts()] == [account.id]


def test_a_hosted_link_expires_on_the_injected_clock(
    client: UnipileClient, emulator: LinkedInProviderEmulator, emulator_clock: ManualClock
) -> None:
    url = client.create_hosted_auth_link(
        name="n", notify_url="http://127.0.0.1:9/notify", expires_at=START + timedelta(minutes=10)
    )
    emulator_clock.advance(timedelta(minutes=10))
    with pytest.raises(ApiError) as expired:
        emulator.complete_hosted_link(url.rsplit("/", 1)[1])
    assert expired.value.type == "errors/expired_link"


def test_reconnect_and_delete(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account(name="Grace", account_type="free")
    emulator.set_account_status(account.id, "CREDENTIALS")
    assert client.get_account(account.id).status == "CREDENTIALS"
    url = client.reconnect_hosted_auth_link(
        account.id, notify_url="http://127.0.0.1:9/n", expires_at=START + timedelta(minutes=5)
    )
    assert emulator.links[url.rsplit("/", 1)[1]].reconnect_account == account.id
    emulator.complete_hosted_link(url.rsplit("/", 1)[1])
    again = client.get_account(account.id)
    assert (again.status, again.account_type) == ("OK", "free")
    client.delete_account(account.id)
    with pytest.raises(ProviderError) as gone:
        client.get_account(account.id)
    assert (gone.value.code, gone.value.status, gone.value.provider_type) == (
        "not_found",
        404,
        "errors/resource_not_found",
    )


# --- people, invitations, relations --------------------------------------------------------------------------------


def test_profile_invitation_and_relation(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account()
    profile = client.get_profile(account.id, "jane-doe")
    assert (profile.public_identifier, profile.first_name, profile.last_name) == ("jane-doe", "Jane", "Doe")
    assert profile.provider_id.startswith("ACo") and profile.is_relationship is False
    invitation_id = client.send_invitation(account.id, profile.provider_id, "Hello Jane")
    assert emulator.invitations[invitation_id].message == "Hello Jane"
    assert client.get_profile(account.id, profile.provider_id).invitation_pending is True
    control(emulator, f"/invitations/{invitation_id}/accept")
    page = client.list_relations(account.id)
    assert [r.provider_id for r in page.items] == [profile.provider_id]
    assert page.items[0].created_at == START and page.cursor is None
    assert client.get_profile(account.id, "jane-doe").is_relationship is True


def test_relations_page_with_the_cursor(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account()
    for n in range(105):
        provider_id = emulator._profile_for(f"member-{n:03d}").provider_id
        emulator.relations[account.id][provider_id] = START + timedelta(minutes=n)
    first = client.list_relations(account.id)
    assert len(first.items) == 100 and first.cursor is not None
    second = client.list_relations(account.id, first.cursor)
    assert len(second.items) == 5 and second.cursor is None
    assert len({r.provider_id for r in first.items + second.items}) == 105


def test_next_invite_answers_cannot_resend_yet(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account()
    control(emulator, "/faults/next-invite")
    with pytest.raises(ProviderError) as refused:
        client.send_invitation(account.id, "ACoAAProspect1", None)
    assert (refused.value.code, refused.value.status, refused.value.provider_type) == (
        "cannot_resend_yet",
        422,
        "errors/cannot_resend_yet",
    )
    assert client.send_invitation(account.id, "ACoAAProspect1", None)  # only the next one was refused


def test_a_missing_profile_is_not_found(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account()
    control(emulator, "/profiles/ghost-member/missing")
    with pytest.raises(ProviderError) as missing:
        client.get_profile(account.id, "ghost-member")
    assert (missing.value.code, missing.value.status) == ("not_found", 404)
    assert calls(emulator, "GET", "/users/ghost-member") == 1  # a 404 is not retried


def test_an_invitation_note_over_300_characters_never_leaves(
    client: UnipileClient, emulator: LinkedInProviderEmulator
) -> None:
    account = emulator.create_account()
    with pytest.raises(ProviderError) as refused:
        client.send_invitation(account.id, "ACoAAProspect2", "x" * 301)
    assert refused.value.code == "invalid" and refused.value.request_sent is False
    assert calls(emulator, "POST", "/users/invite") == 0


@pytest.mark.parametrize(
    ("status", "code", "provider_type"),
    [
        ("CREDENTIALS", "credentials", "errors/disconnected_account"),
        ("IN_APP_VALIDATION", "checkpoint", "errors/checkpoint_error"),
    ],
)
def test_a_disconnected_account_refuses_actions(
    client: UnipileClient, emulator: LinkedInProviderEmulator, status: str, code: str, provider_type: str
) -> None:
    account = emulator.create_account()
    control(emulator, f"/accounts/{account.id}/status", {"status": status})
    with pytest.raises(ProviderError) as refused:
        client.send_invitation(account.id, "ACoAAProspect3", None)
    assert (refused.value.code, refused.value.provider_type) == (code, provider_type)
    control(emulator, f"/accounts/{account.id}/status", {"status": "OK"})
    assert client.send_invitation(account.id, "ACoAAProspect3", None)


# --- messaging -------------------------------------------------------------------------------------------------


def test_chats_messages_and_inmail(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account(account_type="premium")
    friend = client.get_profile(account.id, "friend-one")
    stranger = client.get_profile(account.id, "stranger-two")
    invitation_id = client.send_invitation(account.id, friend.provider_id, None)
    emulator.accept_invitation(invitation_id)

    sent = client.start_chat(account.id, friend.provider_id, "Thanks for connecting")
    assert sent.message_id
    follow_up = client.send_message(sent.chat_id, "Second message")
    assert follow_up.chat_id == sent.chat_id and follow_up.message_id != sent.message_id
    control(emulator, "/messages", {"account_id": account.id, "sender": friend.provider_id, "text": "Hi back"})
    messages = client.list_chat_messages(sent.chat_id).items
    assert [(m.text, m.is_sender) for m in messages] == [
        ("Thanks for connecting", True),
        ("Second message", True),
        ("Hi back", False),
    ]
    assert messages[2].sender_provider_id == friend.provider_id

    with pytest.raises(ProviderError) as not_connected:
        client.start_chat(account.id, stranger.provider_id, "Hello")
    assert (not_connected.value.code, not_connected.value.provider_type) == (
        "invalid",
        "errors/no_connection_with_recipient",
    )
    inmail = client.start_chat(account.id, stranger.provider_id, "Hello", inmail=True, subject="A question")
    chat = emulator.chats[inmail.chat_id]
    assert (chat.inmail, chat.subject) == (True, "A question")
    chats = client.list_chats(account.id).items
    assert {c.id for c in chats} == {sent.chat_id, inmail.chat_id}
    assert next(c for c in chats if c.id == sent.chat_id).unread_count == 1


def test_a_message_to_a_member_goes_into_the_chat_the_members_replies_carry(
    client: UnipileClient, emulator: LinkedInProviderEmulator
) -> None:
    """The provider's "Send Messages" guide (https://developer.unipile.com/docs/send-messages): POST /chats is also
    how a message reaches a member whose existing chat id the caller does not have; LinkedIn keeps one individual
    chat per member (v2 "Send messages", https://developer.unipile.com/v2.0/docs/linkedin-send-messages), while
    InMails can open threads of their own. The campaign engine starts a chat for every message step, and the inbox
    files the member's replies by chat id, so both must name the same chat."""
    account = emulator.create_account(account_type="premium")
    friend = client.get_profile(account.id, "friend-again")
    emulator.accept_invitation(client.send_invitation(account.id, friend.provider_id, None))

    first = client.start_chat(account.id, friend.provider_id, "Thanks for connecting")
    emulator.inbound_message(account.id, "friend-again", "Hi!")
    second = client.start_chat(account.id, friend.provider_id, "A follow-up")
    assert second.chat_id == first.chat_id and second.message_id != first.message_id
    assert [(m.text, m.is_sender) for m in client.list_chat_messages(first.chat_id).items] == [
        ("Thanks for connecting", True),
        ("Hi!", False),
        ("A follow-up", True),
    ]
    inmail = client.start_chat(account.id, friend.provider_id, "Hello", inmail=True, subject="A question")
    assert inmail.chat_id != first.chat_id
    assert len(client.list_chats(account.id).items) == 2


def test_a_free_account_cannot_send_inmail(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account(account_type="free")
    with pytest.raises(ProviderError) as refused:
        client.start_chat(account.id, "ACoAAStranger", "Hello", inmail=True)
    assert refused.value.provider_type == "errors/not_allowed_inmail"


# --- posts, reactions, endorsements ------------------------------------------------------------------------------


def test_reactions_on_any_well_formed_post_and_listing_posts(
    client: UnipileClient, emulator: LinkedInProviderEmulator
) -> None:
    account = emulator.create_account()
    client.add_post_reaction(account.id, "urn:li:activity:7123456789012345678", "celebrate")
    assert emulator.posts["urn:li:activity:7123456789012345678"].reactions == {account.id: "celebrate"}
    created = control(emulator, "/posts", {"author": "writer-one", "text": "On deliverability"})
    assert isinstance(created, dict)
    posts = client.list_posts(account.id, "writer-one")
    assert [(p.id, p.text) for p in posts] == [(created["social_id"], "On deliverability")]
    client.add_post_reaction(account.id, posts[0].id, "like")
    assert client.list_posts(account.id, "writer-one")[0].reaction_counter == 1
    with pytest.raises(ProviderError) as malformed:
        client.add_post_reaction(account.id, "7123456789012345678", "like")
    assert (malformed.value.code, malformed.value.provider_type) == ("invalid", "errors/invalid_post")
    with pytest.raises(ProviderError) as unknown_type:
        client.add_post_reaction(account.id, "urn:li:activity:1", "wow")
    assert unknown_type.value.request_sent is False


def test_endorse_a_skill_of_a_connection(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    account = emulator.create_account()
    friend = client.get_profile(account.id, "skilled-friend")
    with pytest.raises(ProviderError) as not_connected:
        client.endorse_skill(account.id, friend.provider_id, "42")
    assert not_connected.value.provider_type == "errors/no_connection_with_recipient"
    emulator.accept_invitation(client.send_invitation(account.id, friend.provider_id, None))
    client.endorse_skill(account.id, friend.provider_id, "42")
    assert emulator.endorsements == [(account.id, friend.provider_id, 42)]


def test_the_profile_lists_skills_with_their_endorsement_ids_when_asked(
    client: UnipileClient, emulator: LinkedInProviderEmulator
) -> None:
    """ "Retrieve a profile" (UsersController_getProfileByIdentifier): `linkedin_sections=skills` adds `skills[]`
    with `name`, `endorsement_count`, `endorsement_id` (a number or null) and `endorsed`."""
    account = emulator.create_account()
    control(
        emulator,
        "/profiles/skilled-peer/skills",
        {"skills": [{"name": "Python", "endorsement_id": 11}, {"name": "Sales Strategy", "endorsement_id": 12}]},
    )
    plain = client.get_profile(account.id, "skilled-peer")
    assert plain.skills == ()
    assert emulator.requests[-1] == ("GET", "/users/skilled-peer")
    stranger = client.get_profile(account.id, "skilled-peer", with_skills=True)
    assert [(s.name, s.endorsement_id) for s in stranger.skills] == [("Python", None), ("Sales Strategy", None)]
    emulator.accept_invitation(client.send_invitation(account.id, stranger.provider_id, None))
    client.endorse_skill(account.id, stranger.provider_id, "12")
    friend = client.get_profile(account.id, "skilled-peer", with_skills=True)
    assert [(s.name, s.endorsement_id, s.endorsed, s.endorsement_count) for s in friend.skills] == [
        ("Python", "11", False, 0),
        ("Sales Strategy", "12", True, 1),
    ]
    query = [c for c in emulator.calls if c.path == "/users/skilled-peer"]
    assert query and all(c.account_id == account.id for c in query)


def test_commenting_a_post_and_listing_its_comments(client: UnipileClient, emulator: LinkedInProviderEmulator) -> None:
    """unipile-node-sdk `users.resource.ts`: `sendPostComment` POSTs `posts/{post_id}/comments` with
    `{account_id, text}`; `getAllPostComments` GETs the same path (`account_id`, `limit`, `cursor`): a
    `CommentList` whose items carry `id`, `text`, `author_details.id`, `date` (withone.ai "List a User's Comments"
    shows the item shape)."""
    account = emulator.create_account()
    post = emulator.create_post("writer-two", "On warmup")
    assert client.list_post_comments(account.id, post.social_id).items == []
    client.comment_on_post(account.id, post.social_id, "Great point, Grace.")
    got = client.list_post_comments(account.id, post.social_id).items
    assert [(c.text, c.author_provider_id) for c in got] == [("Great point, Grace.", account.provider_id)]
    assert got[0].created_at == emulator.now()
    assert client.list_posts(account.id, "writer-two")[0].id == post.social_id
    with pytest.raises(ProviderError) as blank:
        client.comment_on_post(account.id, post.social_id, "  ")
    assert blank.value.request_sent is False
    with pytest.raises(ProviderError) as missing:
        client.comment_on_post(account.id, "urn:li:activity:1", "Hello")
    assert missing.value.code == "not_found"


def test_a_comment_that_got_no_answer_is_not_sent_again(
    client: UnipileClient, emulator: LinkedInProviderEmulator, sleeps: Sleeps
) -> None:
    """A comment is not idempotent: a 504 after LinkedIn took it is handed back (`unavailable`, request sent),
    never retried by the client; an endorsement (idempotent) is retried through a 500."""
    account = emulator.create_account()
    post = emulator.create_post("writer-three", "On pacing")
    control(emulator, "/faults/next-comment", {"status": 504, "posted": True})
    with pytest.raises(ProviderError) as lost:
        client.comment_on_post(account.id, post.social_id, "Agreed.")
    assert (lost.value.code, lost.value.request_sent) == ("unavailable", True)
    assert calls(emulator, "POST", "/posts/") == 1
    assert [c.text for c in emulator.comments_by(account.id)] == ["Agreed."]
    friend = client.get_profile(account.id, "writer-three")
    emulator.accept_invitation(client.send_invitation(account.id, friend.provider_id, None))
    control(emulator, "/faults/endorse", {"count": 1, "status": 500})
    client.endorse_skill(account.id, friend.provider_id, "7")
    assert calls(emulator, "POST", "/linkedin/profile/endorse") == 2
    assert emulator.endorsements == [(account.id, friend.provider_id, 7)]


# --- retries -----------------------------------------------------------------------------------------------------


def test_a_429_on_a_read_is_retried_after_the_providers_retry_after(
    client: UnipileClient, emulator: LinkedInProviderEmulator, sleeps: Sleeps
) -> None:
    account = emulator.create_account()
    control(emulator, "/faults/rate-limit", {"count": 2, "retry_after": 7})
    assert client.get_account(account.id).status == "OK"
    assert sleeps == [7.0, 7.0]
    assert calls(emulator, "GET", f"/accounts/{account.id}") == 3


def test_a_429_longer_than_the_client_waits_is_handed_back(
    client: UnipileClient, emulator: LinkedInProviderEmulator, sleeps: Sleeps
) -> None:
    account = emulator.create_account()
    control(emulator, "/faults/rate-limit", {"count": 1, "retry_after": 3600})
    with pytest.raises(ProviderError) as limited:
        client.get_account(account.id)
    assert (limited.value.code, limited.value.retry_after_seconds) == ("rate_limited", 3600)
    assert sleeps == []
    assert calls(emulator, "GET", f"/accounts/{account.id}") == 1


def test_retries_stop_after_three_attempts_with_the_last_error(
    client: UnipileClient, emulator: LinkedInProviderEmulator, sleeps: Sleeps
) -> None:
    account = emulator.create_account()
    control(emulator, "/faults/rate-limit", {"count": 5})
    with pytest.raises(ProviderError) as limited:
        client.list_relations(account.id)
    assert limited.value.code == "rate_limited" and limited.value.retry_after_seconds is None
    assert sleeps == [0.5, 1.0]  # the bounded backoff when the provider gives no Retry-After
    assert calls(emulator, "GET", "/users/relations") == 3


def test_a_5xx_on_a_read_is_retried_with_backoff(
    client: UnipileClient, emulator: LinkedInProviderEmulator, sleeps: Sleeps
) -> None:
    account = emulator.create_account()
    control(emulator, "/faults/server-error", {"count": 2, "status": 503})
    assert client.list_chats(account.id).items == []
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("fault", ["/faults/rate-limit", "/faults/server-error"])
def test_an_invitation_or_a_message_is_never_sent_twice(
    client: UnipileClient, emulator: LinkedInProviderEmulator, sleeps: Sleeps, fault: str
) -> None:
    account = emulator.create_account()
    friend = client.get_profile(account.id, "never-twice")
    emulator.accept_invitation(client.send_invitation(account.id, friend.provider_id, None))
    chat = client.start_chat(account.id, friend.provider_id, "first")
    control(emulator, fault, {"count": 3, "retry_after": 1})
    with pytest.raises(ProviderError):
        client.send_invitation(account.id, "ACoAAOther", None)
    with pytest.raises(ProviderError):
        client.send_message(chat.chat_id, "second")
    with pytest.raises(ProviderError):
        client.start_chat(account.id, friend.provider_id, "third")
    assert calls(emulator, "POST", "/users/invite") == 2  # the setup's and the refused one: no retry
    assert calls(emulator, "POST", f"/chats/{chat.chat_id}/messages") == 1
    assert calls(emulator, "POST", "/chats") == 3  # /chats prefix: setup, refused message, refused chat
    assert sleeps == []


def test_an_idempotent_post_is_retried(
    client: UnipileClient, emulator: LinkedInProviderEmulator, sleeps: Sleeps
) -> None:
    account = emulator.create_account()
    control(emulator, "/faults/server-error", {"count": 1, "status": 502})
    client.add_post_reaction(account.id, "urn:li:activity:42", "like")
    assert sleeps == [0.5]
    assert emulator.posts["urn:li:activity:42"].reactions == {account.id: "like"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_connection_refused_is_retried_even_for_an_invitation(sleeps: Sleeps) -> None:
    """Nothing reached the provider, so nothing can be duplicated: the send is retried."""
    client = UnipileClient(f"http://127.0.0.1:{_closed_port()}/api/v1", "key", sleep=sleeps)
    with pytest.raises(ProviderError) as unreachable:
        client.send_invitation("acc", "ACoAAX", None)
    assert (unreachable.value.code, unreachable.value.request_sent, unreachable.value.status) == (
        "unavailable",
        False,
        None,
    )
    assert sleeps == [0.5, 1.0]


class HangUp:
    """A server that reads each request and closes the connection without answering (the answer is lost after
    the request was sent), or with `hold`, keeps it open and never answers (the read times out)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.hold = hold
        self._held: list[socket.socket] = []
        self.requests: list[bytes] = []
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self.port = int(self._socket.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            connection.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data.split(b"\r\n", 1)[0])
            if self.hold:
                self._held.append(connection)
            else:
                connection.close()

    def close(self) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def hang_up() -> Iterator[HangUp]:
    server = HangUp()
    yield server
    server.close()


def test_a_lost_answer_repeats_a_read_but_never_an_invitation(hang_up: HangUp, sleeps: Sleeps) -> None:
    client = UnipileClient(f"http://127.0.0.1:{hang_up.port}/api/v1", "key", sleep=sleeps)
    with pytest.raises(ProviderError) as read:
        client.get_account("acc")
    assert (read.value.code, read.value.request_sent) == ("unavailable", True)
    assert len(hang_up.requests) == 3
    with pytest.raises(ProviderError) as sent:
        client.send_invitation("acc", "ACoAAX", "hi")
    assert (sent.value.code, sent.value.request_sent) == ("unavailable", True)
    assert len(hang_up.requests) == 4  # one more request, not three
    assert hang_up.requests[-1].startswith(b"POST /api/v1/users/invite ")


def test_the_documented_timeouts() -> None:
    assert (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, MAX_ATTEMPTS) == (3, 10, 3)


def test_a_read_timeout_repeats_a_read_but_never_a_message(sleeps: Sleeps) -> None:
    silent = HangUp(hold=True)
    try:
        client = UnipileClient(f"http://127.0.0.1:{silent.port}/api/v1", "key", read_timeout=0.2, sleep=sleeps)
        with pytest.raises(ProviderError) as read:
            client.list_chats("acc")
        assert (read.value.code, read.value.request_sent, len(silent.requests)) == ("unavailable", True, 3)
        with pytest.raises(ProviderError) as sent:
            client.send_message("chat-1", "hello")
        assert (sent.value.code, len(silent.requests)) == ("unavailable", 4)
        assert silent.requests[-1].startswith(b"POST /api/v1/chats/chat-1/messages ")
        assert sleeps == [0.5, 1.0]
    finally:
        silent.close()


def test_a_wrong_api_key_is_forbidden_not_a_disconnected_account(emulator: LinkedInProviderEmulator) -> None:
    client = UnipileClient(emulator.api_url, "not-the-key", sleep=lambda _: None)
    with pytest.raises(ProviderError) as refused:
        client.list_accounts()
    assert (refused.value.code, refused.value.status, refused.value.provider_type) == (
        "forbidden",
        401,
        "errors/missing_credentials",
    )
