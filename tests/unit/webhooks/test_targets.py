"""URL rules (invariant no-private-targets): private, loopback, link-local and metadata addresses are refused
before any request."""

from __future__ import annotations

import pytest

from kindling.platform.settings import Settings
from kindling.webhooks.targets import TargetRefused, forbidden_reason, resolve_target

STRICT = Settings(stage="prod", allow_private_targets=False)
LOCAL = Settings(stage="local", allow_private_targets=True)
STRICT_LOCAL = Settings(stage="test", allow_private_targets=False)


def resolver_to(*addresses: str):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(addresses)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "0.0.0.0", "::1", "fe80::1",
     "fd00:ec2::254", "::ffff:127.0.0.1", "100.64.0.1", "224.0.0.1"],
)  # fmt: skip
def test_forbidden_addresses(address: str) -> None:
    assert forbidden_reason(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses(address: str) -> None:
    assert forbidden_reason(address) is None


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/hook", "https://10.0.0.5/x", "https://169.254.169.254/latest/meta-data/", "https://[::1]/h"],
)
def test_literal_private_urls_refused(url: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        resolve_target(url, resolver_to("93.184.216.34"), STRICT)
    assert caught.value.code == "private_address"


def test_a_name_resolving_to_loopback_is_refused() -> None:
    resolve = resolver_to("127.0.0.1")
    with pytest.raises(TargetRefused) as caught:
        resolve_target("https://localhost/hook", resolve, STRICT)
    assert caught.value.code == "private_address"
    assert resolve.calls == ["localhost"]  # type: ignore[attr-defined]


def test_any_private_answer_among_several_is_refused() -> None:
    with pytest.raises(TargetRefused):
        resolve_target("https://mixed.example.com/h", resolver_to("93.184.216.34", "10.0.0.1"), STRICT)


def test_public_name_is_accepted_and_pinned() -> None:
    target = resolve_target("https://hooks.example.com:8443/in?x=1", resolver_to("93.184.216.34"), STRICT)
    assert (target.host, target.port, target.path, target.address) == ("hooks.example.com", 8443, "/in?x=1",
                                                                      "93.184.216.34")  # fmt: skip


def test_https_only_when_deployed() -> None:
    with pytest.raises(TargetRefused) as caught:
        resolve_target("http://hooks.example.com/h", resolver_to("93.184.216.34"), STRICT)
    assert caught.value.code == "insecure_scheme"
    assert resolve_target("http://127.0.0.1:9/h", None, LOCAL).address == "127.0.0.1"
    with pytest.raises(TargetRefused):
        resolve_target("http://127.0.0.1:9/h", None, STRICT_LOCAL)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "https://", "not a url", "https://user:pw@example.com/h", "https://e.com/#frag"]
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        resolve_target(url, resolver_to("93.184.216.34"), STRICT)
    assert caught.value.code == "invalid_url"


def test_unresolvable_host() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(TargetRefused) as caught:
        resolve_target("https://nope.invalid/h", fail, STRICT)
    assert caught.value.code == "unresolvable_host"
