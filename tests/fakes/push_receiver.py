"""A stand-in for `POST /webhooks/gdrive` until the API route exists: it receives Drive's
push notifications over HTTP and answers by `gdrive_push.decide`, as the route will."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request, Response

from resources.connectors.gdrive_push import Decision, Verdict, WatchChannel, decide
from tests.fakes.serving import serve_in_thread

PATH = "/webhooks/gdrive"


@dataclass
class PushReceiver:
    """The stored channel, every verdict given, and what to do on `QUEUE`."""

    url: str = ""
    channel: WatchChannel | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    on_queue: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, request: Request) -> Response:
        """Decide, act, answer: 200 for `sync` and `change`, 403 for a rejected delivery."""
        verdict = decide(request.headers, self.channel)
        with self._lock:
            self.verdicts.append(verdict)
        if verdict.decision is Decision.REJECT:
            return Response(verdict.reason, status_code=403)
        if verdict.decision is Decision.QUEUE and self.on_queue is not None:
            self.on_queue()
        return Response(status_code=200)


@pytest.fixture(name="push_receiver")
def push_receiver_fixture() -> Iterator[PushReceiver]:
    """A receiver serving on a free port for one test."""
    receiver = PushReceiver()
    app = FastAPI()
    app.post(PATH)(receiver.receive)
    with serve_in_thread(app, name="push receiver") as url:
        receiver.url = f"{url}{PATH}"
        yield receiver
