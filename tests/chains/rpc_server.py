"""A small JSON-RPC (and plain HTTP) server on 127.0.0.1 for the chain tests: a handler answers each call.

Bounded: it serves on a random free port, in a daemon thread, and shuts itself down after `max_s` seconds
even if a test forgets to stop it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Reply:
    """A non-default HTTP answer: a status, headers, a raw body, or a delay before answering."""

    def __init__(self, status: int = 200, body: str | bytes = b"", headers: dict | None = None, delay_s: float = 0):
        self.status, self.headers, self.delay_s = status, headers or {}, delay_s
        self.body = body.encode() if isinstance(body, str) else body


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


Handler = Callable[[str, list, dict], object]  # (method, params, headers) -> result | Reply; raise RpcError
# (headers, raw body) -> a Reply that answers the request as it is (a refusal, a proxied or mangled answer),
# or None to go on to the handler
Before = Callable[[dict, bytes], "Reply | None"]
Get = Callable[[str, dict, dict], object]  # (path, query, headers) -> JSON-able | Reply, for plain HTTP GETs


class LoopbackRpc:
    def __init__(self, handler: Handler | None = None, max_s: float = 120.0, before: Before | None = None,
                 get: Get | None = None):
        self.handler, self.calls, self.bodies, self.before, self.get = handler, [], [], before, get
        outer = self

        class _H(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.bodies.append((dict(self.headers), raw))
                answered = outer.before(dict(self.headers), raw) if outer.before else None
                if answered is not None:
                    return self._send(answered.status, answered.body, answered.headers)
                body = json.loads(raw)
                many = isinstance(body, list)
                answers = []
                for req in body if many else [body]:
                    outer.calls.append(req["method"])
                    try:
                        res = outer.handler(req["method"], req.get("params") or [], dict(self.headers))
                    except RpcError as err:
                        answers.append({"jsonrpc": "2.0", "id": req.get("id"),
                                        "error": {"code": err.code, "message": err.message}})
                        continue
                    if isinstance(res, Reply):
                        time.sleep(res.delay_s)
                        if res.status != 200 or res.body:
                            return self._send(res.status, res.body, res.headers)
                        res = None
                    answers.append({"jsonrpc": "2.0", "id": req.get("id"), "result": res})
                payload = json.dumps(answers if many else answers[0]).encode()
                self._send(200, payload, {"Content-Type": "application/json"})

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                outer.calls.append(f"GET {url.path}")
                res = outer.get(url.path, query, dict(self.headers)) if outer.get else Reply(404, b"no GET here")
                if isinstance(res, Reply):
                    time.sleep(res.delay_s)
                    return self._send(res.status, res.body, res.headers)
                self._send(200, json.dumps(res).encode(), {"Content-Type": "application/json"})

            def _send(self, status, payload, headers):
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._timer = threading.Timer(max_s, self.stop)
        self._timer.daemon = True
        self._lock, self._stopped = threading.Lock(), False

    def __enter__(self) -> LoopbackRpc:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
