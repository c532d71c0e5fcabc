"""Loopback ports for the servers Headwater starts itself (and its tests start)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of the loopback address `host` nobody listens on right now (the caller
    binds it right after)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
