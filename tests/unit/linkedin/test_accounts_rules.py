"""The account rules as tables: the provider's statuses -> ours, outages, post URNs from ids and URLs, proxies."""

from __future__ import annotations

import pytest

from kindling.linkedin.models import (
    InvalidPostId,
    InvalidProxy,
    ends_outage,
    parse_custom_proxy,
    post_urn,
    starts_outage,
    status_from_provider,
)
from kindling.linkedin.service import hosted_auth_name, parse_hosted_auth_name


@pytest.mark.parametrize(
    ("provider_status", "expected"),
    [
        # Unipile's account statuses (account objects and the account-status webhook's `message`)
        ("OK", "connected"),
        ("CREATION_SUCCESS", "connected"),
        ("RECONNECTED", "connected"),
        ("SYNC_SUCCESS", "connected"),
        ("CREDENTIALS", "disconnected"),
        ("ERROR", "disconnected"),
        ("STOPPED", "disconnected"),
        ("DELETED", "disconnected"),
        ("PERMISSIONS", "disconnected"),
        ("IN_APP_VALIDATION", "needs_verification"),
        ("CHECKPOINT", "needs_verification"),
        ("CAPTCHA", "needs_verification"),
        ("RESTRICTED", "restricted"),
        ("ok", "connected"),
        (" credentials ", "disconnected"),
        # a provider-side transition and anything unknown decide nothing
        ("CONNECTING", None),
        ("SOMETHING_NEW", None),
        ("", None),
        (None, None),
    ],
)
def test_provider_status_maps_to_ours(provider_status: str | None, expected: str | None) -> None:
    assert status_from_provider(provider_status) == expected


@pytest.mark.parametrize(
    ("old", "new", "starts", "ends"),
    [
        ("connected", "disconnected", True, False),
        ("connected", "needs_verification", True, False),
        ("connected", "restricted", True, False),
        ("disconnected", "needs_verification", False, False),  # the same outage goes on
        ("needs_verification", "restricted", False, False),
        ("disconnected", "connected", False, True),
        ("restricted", "connected", False, True),
        ("connecting", "disconnected", False, False),  # never connected: no outage
        ("connecting", "connected", False, False),
        ("connected", "deleted", False, False),
        ("connected", "connected", False, False),
    ],
)
def test_outages_start_when_leaving_connected_and_end_when_back(old: str, new: str, starts: bool, ends: bool) -> None:
    assert starts_outage(old, new) is starts
    assert ends_outage(old, new) is ends


@pytest.mark.parametrize(
    ("value", "urn"),
    [
        ("urn:li:activity:7300000000000000000", "urn:li:activity:7300000000000000000"),
        ("urn%3Ali%3Aactivity%3A7300000000000000000", "urn:li:activity:7300000000000000000"),
        (
            "https://www.linkedin.com/feed/update/urn:li:activity:7300000000000000001/",
            "urn:li:activity:7300000000000000001",
        ),
        (
            "https://www.linkedin.com/feed/update/urn:li:activity:7300000000000000001",
            "urn:li:activity:7300000000000000001",
        ),
        (
            "https%3A%2F%2Fwww.linkedin.com%2Ffeed%2Fupdate%2Furn%3Ali%3Aactivity%3A42%2F",
            "urn:li:activity:42",
        ),
        (
            "https://www.linkedin.com/posts/jordanlee_growth-tips-activity-7300000000000000002-AbCd",
            "urn:li:activity:7300000000000000002",
        ),
        (
            "https://linkedin.com/posts/jane-doe_hiring-activity-7300000000000000003-x1Y2?utm_source=share",
            "urn:li:activity:7300000000000000003",
        ),
        ("https://www.linkedin.com/posts/jane_activity-99", "urn:li:activity:99"),
    ],
)
def test_post_urn_from_an_id_or_either_url_form(value: str, urn: str) -> None:
    assert post_urn(value) == urn


@pytest.mark.parametrize(
    "value",
    [
        "",
        "7300000000000000000",
        "urn:li:activity:",
        "urn:li:activity:12ab",
        "urn:li:share:7300000000000000000",
        "urn:li:activity:1 OR 1=1",
        "https://www.linkedin.com/in/janedoe",
        "https://evil.example/feed/update/urn:li:activity:1/",
        "https://www.linkedin.com.evil.example/posts/x_activity-1-a",
        "https://www.linkedin.com/feed/update/urn:li:activity:1/extra",
        "x" * 3000,
    ],
)
def test_anything_else_is_not_a_post(value: str) -> None:
    with pytest.raises(InvalidPostId):
        post_urn(value)


@pytest.mark.parametrize(
    ("url", "protocol", "host", "port", "username", "password"),
    [
        ("http://user:pass@proxy.example.com:8080", "http", "proxy.example.com", 8080, "user", "pass"),
        ("https://u:p%40ss@10.0.0.5:443", "https", "10.0.0.5", 443, "u", "p@ss"),
        ("socks5://alice:s3cret@socks.example.net:1080", "socks5", "socks.example.net", 1080, "alice", "s3cret"),
        ("SOCKS5://Proxy.Example.com:1080", "socks5", "proxy.example.com", 1080, None, None),  # IP allowlisting
        ("http://proxy.example.com:3128/", "http", "proxy.example.com", 3128, None, None),
        ("http://user@proxy.example.com:3128", "http", "proxy.example.com", 3128, "user", None),
    ],
)
def test_a_custom_proxy_parses(
    url: str, protocol: str, host: str, port: int, username: str | None, password: str | None
) -> None:
    proxy = parse_custom_proxy(url)
    assert (proxy.protocol, proxy.host, proxy.port, proxy.username, proxy.password) == (
        protocol,
        host,
        port,
        username,
        password,
    )
    assert proxy.public_url() == f"{protocol}://{host}:{port}"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://user:pass@proxy.example.com:21",
        "socks4://proxy.example.com:1080",
        "proxy.example.com:8080",
        "http://user:pass@proxy.example.com",  # no port
        "http://proxy.example.com:0",
        "http://proxy.example.com:70000",
        "http://proxy.example.com:port",
        "http://:pass@proxy.example.com:8080",  # a password without a user
        "http://proxy.example.com:8080/path",
        "http://proxy.example.com:8080?x=1",
        "http://proxy.example.com:8080#frag",
        "http://proxy example.com:8080",
        "http://999.1.1.1:8080",
        "http://-bad-.example.com:8080",
        "",
    ],
)
def test_a_bad_custom_proxy_is_refused(url: str) -> None:
    with pytest.raises(InvalidProxy):
        parse_custom_proxy(url)


def test_the_hosted_auth_name_names_the_row_and_nothing_else_parses() -> None:
    assert parse_hosted_auth_name(hosted_auth_name("ws_abc123", "li_xyz")) == ("ws_abc123", "li_xyz")
    for bad in ("", "li_xyz", "ws_abc123", "ws_abc123:mbx_1", "Jordan Lee", "acme:li_1"):
        assert parse_hosted_auth_name(bad) is None


def test_account_disconnected_is_deduplicated_per_outage() -> None:
    from datetime import UTC, datetime

    from kindling.events.catalog import EVER, dedup_for

    now = datetime(2026, 6, 10, 9, tzinfo=UTC)
    first = {"linkedinAccountId": "li_1", "reason": "x", "disconnectedAt": "2026-06-10T09:00:00.000Z"}
    replay = {**first, "reason": "provider status CREDENTIALS"}
    second = {**first, "disconnectedAt": "2026-06-12T10:00:00.000Z"}
    other = {**first, "linkedinAccountId": "li_2"}
    keys = [dedup_for("linkedin.account_disconnected", data, now) for data in (first, replay, second, other)]
    assert keys[0] == ("li_1:2026-06-10T09:00:00.000Z", EVER)
    assert keys[1] == keys[0]  # the same outage reported again
    assert len({k[0] for k in keys if k}) == 3  # a new outage, another account: their own events
