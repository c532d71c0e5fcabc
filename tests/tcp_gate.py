"""A TCP proxy the test controls: it forwards both ways, and holds the request it is told to.

Used to stop a process at an exact point of its conversation with a server (an object
store's PUT of one key, say) and kill it there, with the server itself left untouched.
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

    A client's bytes are forwarded until they contain `hold`; from there that connection
    forwards nothing more (the request never reaches the server) and `held` is set.
    """

    target: tuple[str, int]
    hold: bytes
    port: int = field(init=False, default=0)
    held: threading.Event = field(default_factory=threading.Event)
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
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        seen = b""
        with suppress(OSError):
            while data := source.recv(CHUNK):
                if watch:
                    seen = seen[-len(self.hold) :] + data
                    if self.hold in seen:
                        self.held.set()
                        return
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Stop listening and cut every connection."""
        for sock in [self._listener, *self._sockets]:
            with suppress(OSError):
                sock.close()


@contextmanager
def running_gate(target: tuple[str, int], *, hold: bytes) -> Iterator[Gate]:
    """A gate on a free loopback port, closed afterwards."""
    gate = Gate(target=target, hold=hold)
    threading.Thread(target=gate.serve, daemon=True).start()
    try:
        yield gate
    finally:
        gate.close()
