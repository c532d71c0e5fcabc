"""The egress policy: which addresses a user-named host may resolve to."""

from __future__ import annotations

import ipaddress

import pytest

from resources.connectors.egress import EgressPolicy, EgressRefused

DEVELOPMENT = EgressPolicy(allow_private=True)
PRODUCTION = EgressPolicy(allow_private=False)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # AWS, GCP, Azure metadata
        "fd00:ec2::254",  # AWS metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "fe80::1",
        "::ffff:169.254.169.254",  # IPv4-mapped IPv6
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
    ],
)
def test_metadata_link_local_and_reserved_are_always_refused(address: str) -> None:
    for policy in (DEVELOPMENT, PRODUCTION):
        assert policy.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "192.168.0.9", "100.64.0.1"])
def test_private_ranges_only_in_development_or_when_listed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert DEVELOPMENT.refusal(ip) is None
    assert "private" in str(PRODUCTION.refusal(ip))
    listed = EgressPolicy(allow_private=False, allowed_networks=(ipaddress.ip_network(ip),))
    assert listed.refusal(ip) is None


def test_public_addresses_are_allowed() -> None:
    for address in ("140.82.112.3", "2606:50c0:8000::154"):
        assert PRODUCTION.refusal(ipaddress.ip_address(address)) is None


def test_a_name_is_refused_if_any_of_its_addresses_is() -> None:
    # `localhost` resolves to loopback addresses only.
    assert DEVELOPMENT.resolve("localhost", 80).is_loopback
    with pytest.raises(EgressRefused, match="loopback or private"):
        PRODUCTION.resolve("localhost", 80)
    with pytest.raises(EgressRefused, match="metadata"):
        DEVELOPMENT.resolve("169.254.169.254", 80)
    with pytest.raises(EgressRefused, match="cannot resolve"):
        DEVELOPMENT.resolve("no-such-host.invalid", 80)
