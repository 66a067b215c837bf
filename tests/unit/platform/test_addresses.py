"""The address rules every customer-supplied host goes through (webhook URLs, mailbox SMTP/IMAP hosts)."""

from __future__ import annotations

import pytest

from kindling.platform.addresses import AddressRefused, forbidden_reason, resolve_checked


def resolver_to(*addresses: str):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(addresses)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("fe80::1", "link-local (cloud metadata)"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "reserved"),  # CGNAT (RFC 6598)
        ("192.0.2.10", "private"),  # documentation range (TEST-NET-1)
        ("240.0.0.1", "private"),  # reserved for future use (Python counts it private)
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("not-an-ip", "not an IP address"),
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_forbidden_reason(address: str, reason: str | None) -> None:
    assert forbidden_reason(address) == reason


@pytest.mark.parametrize(
    ("host", "answers", "refused"),
    [
        ("127.0.0.1", (), True),  # a literal is judged without DNS
        ("::ffff:127.0.0.1", (), True),
        ("[::1]", (), True),
        ("10.0.0.1", (), True),
        ("169.254.169.254", (), True),
        ("100.64.0.1", (), True),
        ("localhost", ("127.0.0.1",), True),  # a name resolving to loopback
        ("mixed.example.com", ("93.184.216.34", "10.0.0.1"), True),  # any private answer among several
        ("mail.example.com", ("93.184.216.34",), False),
        ("8.8.8.8", (), False),
    ],
)
def test_resolve_checked(host: str, answers: tuple[str, ...], refused: bool) -> None:
    resolve = resolver_to(*answers)
    if refused:
        with pytest.raises(AddressRefused) as caught:
            resolve_checked(host, 587, allow_private=False, resolver=resolve)
        assert caught.value.code == "private_address"
    else:
        assert resolve_checked(host, 587, allow_private=False, resolver=resolve)[0] in (host, *answers)
    assert resolve.calls == ([host] if answers else [])  # type: ignore[attr-defined]


def test_allow_private_lifts_the_address_rule_but_still_resolves() -> None:
    assert resolve_checked("localhost", 25, allow_private=True, resolver=resolver_to("127.0.0.1")) == ("127.0.0.1",)
    assert resolve_checked("::ffff:127.0.0.1", 25, allow_private=True) == ("::ffff:7f00:1",)


@pytest.mark.parametrize("answers", [(), None])
def test_a_host_that_does_not_resolve(answers: tuple[str, ...] | None) -> None:
    def resolve(host: str, port: int) -> list[str]:
        if answers is None:
            raise OSError("Name or service not known")
        return list(answers)

    with pytest.raises(AddressRefused) as caught:
        resolve_checked("nothing.invalid", 25, allow_private=False, resolver=resolve)
    assert caught.value.code == "unresolvable_host"


def test_the_resolved_addresses_come_back_in_resolver_order() -> None:
    got = resolve_checked("mail.example.com", 25, allow_private=False, resolver=resolver_to("2606:4700::1", "1.1.1.1"))
    assert got == ("2606:4700::1", "1.1.1.1")
