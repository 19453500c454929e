"""A real webhook receiver for tests: an HTTP server on a free loopback port, in a thread.

    with WebhookReceiver() as receiver:
        ...  # point SIGNOFF_WEBHOOK_URL at receiver.url
        receiver.fail_next(2)  # the next two requests get a 500
        receiver.requests  # every request so far: method, path, headers, raw body, status
        receiver.wait_until(lambda request: ...)  # the first request that matches, once it came

It answers every POST with 204 unless told to fail. A receiver that is down is a URL nothing
listens on: `down_url()`, or the `url` of a receiver after its `with` block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from tests.langgraph_server import free_port

OK = 204


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver got it."""

    method: str
    path: str
    headers: Message
    """Case-insensitive: `headers["X-Signoff-Event-Id"]`."""
    body: bytes
    """The raw body, exactly as sent (what a signature covers)."""
    status: int
    """What the receiver answered."""


class LoopbackServer:
    """An HTTP server on a free loopback port, serving from a thread inside its `with` block."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class WebhookReceiver(LoopbackServer):
    """Records every request; answers 204, or a failure status while told to fail."""

    def __init__(self) -> None:
        super().__init__(self._handler())
        self._changed = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._failures: list[int] = []

    @property
    def url(self) -> str:
        """Where to post webhooks."""
        return f"{self.base_url}/hooks"

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, oldest first."""
        with self._changed:
            return list(self._requests)

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status` (still recording them)."""
        with self._changed:
            self._failures += [status] * count

    def recover(self) -> None:
        """Stop failing: answer every later request with success."""
        with self._changed:
            self._failures.clear()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedRequest]:
        """The requests once there are at least `count`; raises `TimeoutError` after `timeout`
        seconds (for a server delivering in the background)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} of {count} webhook requests came")
            return list(self._requests)

    def wait_until(
        self, matches: Callable[[ReceivedRequest], bool], timeout: float = 30.0
    ) -> ReceivedRequest:
        """The first request `matches` accepts, once one has come; raises `TimeoutError` after
        `timeout` seconds."""
        with self._changed:
            found: list[ReceivedRequest] = []

            def arrived() -> bool:
                found[:] = [request for request in self._requests if matches(request)][:1]
                return bool(found)

            if not self._changed.wait_for(arrived, timeout):
                raise TimeoutError(f"no matching request among {len(self._requests)} received")
            return found[0]

    def _answer(self, request: BaseHTTPRequestHandler, body: bytes) -> int:
        """Record `request` and return the status to answer it with."""
        with self._changed:
            status = self._failures.pop(0) if self._failures else OK
            self._requests.append(
                ReceivedRequest(request.command, request.path, request.headers, body, status)
            )
            self._changed.notify_all()
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(receiver._answer(self, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                """Keep test output quiet."""

        return Handler


def down_url() -> str:
    """A webhook URL on a loopback port nothing listens on: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/hooks"
