"""Where Headwater may connect when a user names the host (provider URLs, connection hosts).

Every address a name resolves to is checked, and the connection goes to the address that
was checked (TLS still verifies the name), so a DNS answer that changes between check and
connect cannot slip through; a redirect is a new request and is checked again.

Always refused: link-local (cloud metadata lives there), unspecified, multicast and
reserved addresses. Loopback and private ranges are allowed in development and refused in
production unless the operator lists them in `HEADWATER_EGRESS_ALLOWED_NETWORKS`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from resources.connectors.base import ConnectorError
from resources.settings import Settings, get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Metadata endpoints outside link-local: AWS over IPv6, Alibaba Cloud.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class EgressRefused(ConnectorError):
    """The host resolves to an address Headwater may not connect to."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Which addresses user-named hosts may resolve to.

    Attributes:
        allow_private: Whether loopback and private ranges are allowed (development).
        allowed_networks: Networks allowed whatever else holds (the operator's list).
    """

    allow_private: bool
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """The policy of these settings: private ranges open only in development."""
        return cls(
            allow_private=settings.environment == "development",
            allowed_networks=tuple(
                ipaddress.ip_network(text, strict=False)
                for text in settings.egress_allowed_networks
            ),
        )

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` is refused, or None if it is allowed."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return None
        if address in METADATA_ADDRESSES or address.is_link_local:
            return "a link-local or cloud metadata address"
        # IPv6 loopback lies in a reserved block; it is loopback first.
        if (
            address.is_unspecified
            or address.is_multicast
            or (address.is_reserved and not address.is_loopback)
        ):
            return "an unspecified, multicast or reserved address"
        private = address.is_loopback or address.is_private or address in SHARED_ADDRESS_SPACE
        if private and not self.allow_private:
            return "a loopback or private address (allow it in HEADWATER_EGRESS_ALLOWED_NETWORKS)"
        return None

    def resolve(self, host: str, port: int) -> IPAddress:
        """The address to connect to for `host`, after checking every address it has.

        Raises:
            EgressRefused: Some address of the host is refused, or it does not resolve.
        """
        return self.resolve_all(host, port)[0]

    def resolve_all(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host`, each checked (see `resolve`)."""
        addresses = _addresses(host, port)
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise EgressRefused(
                    f"refusing to connect to {host}: it resolves to {reason} ({address})",
                    details={"host": host, "address": str(address)},
                )
        return addresses


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport that connects only where the policy allows, to the checked address."""

    def __init__(self, policy: EgressPolicy, **kwargs: Any) -> None:
        """Check every request against `policy`; other arguments go to `HTTPTransport`."""
        super().__init__(**kwargs)
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Resolve and check the host, then send the request to that very address."""
        url = request.url
        address = self.policy.resolve(url.host, url.port or _default_port(url.scheme))
        # The Host header stays the name; TLS verifies the certificate against it.
        request.extensions = {**request.extensions, "sni_hostname": url.host}
        request.url = url.copy_with(host=str(address))
        return super().handle_request(request)


def guarded_transport(policy: EgressPolicy | None = None) -> GuardedTransport:
    """A transport under `policy`, by default the one of the environment's settings."""
    return GuardedTransport(policy or EgressPolicy.from_settings(get_settings()))


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise EgressRefused(
            f"cannot resolve {host}: {error.strerror}", details={"host": host}, transient=True
        ) from error
    except UnicodeError as error:  # not a name IDNA can encode
        raise EgressRefused(f"{host!r} is not a valid host name", details={"host": host}) from error
    return _unique(ipaddress.ip_address(info[4][0]) for info in infos)


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
