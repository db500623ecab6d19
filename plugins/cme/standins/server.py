"""The HTTP plumbing the three stand-ins share."""
from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class StandIn:
    """Base: subclasses implement `route(method, path, params, body) -> (status, content_type, bytes)`."""

    def __init__(self, registry: dict, failure_rate: float = 0.0, slow_seconds: float = 0.0,
                 seed: int = 1, credentials: tuple[str, str] = ("user", "secret")):
        self.registry = registry
        self.failure_rate = failure_rate
        self.slow_seconds = slow_seconds
        self.random = random.Random(seed)
        self.credentials = credentials
        self.received = Counter()  # natural key -> times a record was accepted into the body
        self.requests = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # -- fault injection --------------------------------------------------
    def _fault(self) -> str | None:
        with self.lock:
            roll = self.random.random()
        if roll < self.failure_rate / 2:
            return "error"
        if roll < self.failure_rate:
            return "slow"
        return None

    def record(self, key: str) -> int:
        with self.lock:
            self.received[key] += 1
            return self.received[key]

    def route(self, method, path, params, body):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- serving ----------------------------------------------------------
    def start(self, port: int = 0) -> str:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self, method):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                if url.path == "/_received":  # test hook: what the body holds
                    return self._send(200, "application/json", json.dumps(stand_in.received).encode())
                stand_in.requests += 1
                fault = stand_in._fault()
                if fault == "error":
                    return self._send(503, "text/plain", b"service unavailable")
                status, ctype, data = stand_in.route(method, url.path, params, body,
                                                     self.headers.get("Content-Type", ""))
                if fault == "slow":  # the body did the work, but answers after the timeout
                    time.sleep(stand_in.slow_seconds)
                self._send(status, ctype, data)

            def _send(self, status, ctype, data):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def log_message(self, *args):  # quiet: requests carry learner data
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def json_response(status: int, payload: dict):
    return status, "application/json", json.dumps(payload).encode()
