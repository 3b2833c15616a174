"""A counting HTTP proxy in front of fake-gcs-server: every Cloud Storage call a client makes,
by the class Cloud Storage bills it in, so a test can hold the cost model to what the code does."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

HOST = "127.0.0.1"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def operation_class(method: str, path: str) -> str:
    """Cloud Storage's billing class of a JSON API request: A (writes, listings), B (reads), free."""
    route = urlsplit(path).path
    if method == "DELETE":
        return "free"
    if method in ("POST", "PUT", "PATCH"):
        return "A"  # inserts, uploads, compose, rewrite, metadata updates
    if route.rstrip("/").endswith("/o") or route.endswith("/notificationConfigs"):
        return "A"  # objects.list, notifications.list
    return "B"  # objects.get: metadata or media


class CountingProxy:
    """Forwards HTTP to upstream_port and counts (class, method, path) of every request."""

    def __init__(self, upstream_port: int) -> None:
        self.requests: list[tuple[str, str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(HOST, upstream_port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                # Object resources name their download URL (mediaLink) on the server's own port:
                # answered through the proxy, those reads come back through it too.
                content = content.replace(f"{HOST}:{upstream_port}".encode(), f"{HOST}:{proxy.port}".encode())
                content = content.replace(f"localhost:{upstream_port}".encode(), f"localhost:{proxy.port}".encode())
                proxy.requests.append((operation_class(self.command, self.path), self.command, unquote(self.path)))
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="gcs-counter")
        self._thread.start()

    def counts(self, since: int = 0, besides: tuple[str, ...] = ()) -> Counter[str]:
        """Requests by class, from the since-th on (len(requests) before the work to count).

        besides: requests whose path names one of these (a track id, an object name, as is or
        URL-quoted) are left out, so an earlier track's last calls landing late are not counted.
        An upload names its object in its body, not its path: it is always counted.
        """
        names = {quoted for name in besides for quoted in (name, quote(name, safe=""))}
        return Counter(cls for cls, _, path in self.requests[since:] if not any(name in path for name in names))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
