"""A TCP proxy the test controls: it forwards both ways, holds the request it is told to, and
can cut the server off.

Used to stop a process at an exact point of its conversation with a server (an object
store's PUT of one key, say) and kill it there, or to make a server unreachable for a while,
with the server itself left untouched.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

CHUNK = 65_536


@dataclass
class Gate:
    """Listens on `port` and connects each client to `target`.

    A client's bytes are forwarded until they contain `hold` (if given); from there that
    connection forwards nothing more (the request never reaches the server) and `held` is set.
    While `cut`, the server is unreachable: open connections are closed, and new ones are
    accepted but never answered, as when packets to a host are dropped.
    """

    target: tuple[str, int]
    hold: bytes | None = None
    port: int = field(init=False, default=0)
    held: threading.Event = field(default_factory=threading.Event)
    _cut: threading.Event = field(default_factory=threading.Event)
    _listener: socket.socket = field(default_factory=socket.socket)
    _sockets: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.port = self._listener.getsockname()[1]

    def serve(self) -> None:
        """Accept clients until the listener closes."""
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            if self._cut.is_set():
                continue
            server = socket.create_connection(self.target)
            self._sockets.append(server)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        seen = b""
        with suppress(OSError):
            while data := source.recv(CHUNK):
                if watch and self.hold is not None:
                    seen = seen[-len(self.hold) :] + data
                    if self.hold in seen:
                        self.held.set()
                        return
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Make the server unreachable: close every open connection, answer no new one."""
        self._cut.set()
        self._close(self._sockets)

    def reopen(self) -> None:
        """Connect new clients to the server again."""
        self._cut.clear()
        self._close(self._sockets)

    def close(self) -> None:
        """Stop listening and cut every connection."""
        self._close([self._listener, *self._sockets])

    def _close(self, sockets: list[socket.socket]) -> None:
        for sock in list(sockets):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()
        self._sockets.clear()


@contextmanager
def running_gate(target: tuple[str, int], *, hold: bytes | None = None) -> Iterator[Gate]:
    """A gate on a free loopback port, closed afterwards."""
    gate = Gate(target=target, hold=hold)
    threading.Thread(target=gate.serve, daemon=True).start()
    try:
        yield gate
    finally:
        gate.close()
