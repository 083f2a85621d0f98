"""A small web server on 127.0.0.1 for capture tests: pages the test defines, and a record of
every request the browser made (headers, cookies) so a test can check what was sent."""

import base64
import http.server
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Page:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds before answering (a hanging resource)
    auth: tuple | None = None  # (user, password) required
    # Extra response headers (Location, ...). Without Cache-Control, "no-cache": a page may be
    # added again with another body, so the browser must not take it from its cache.
    headers: dict = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict
    at: float = 0.0  # time.monotonic() when the request came in


@dataclass
class Site:
    pages: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    url: str = ""

    def add(self, path, body="", **options):
        self.pages[path] = Page(body=body, **options)
        return f"{self.url}{path}"

    def seen(self, path):
        return [request for request in self.requests if request.path == path]

    def seen_prefix(self, prefix):
        return [request for request in self.requests if request.path.startswith(prefix)]


def serve(site: Site):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            site.requests.append(
                Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
            )
            page = site.pages.get(self.path.split("?")[0])
            if page is None:
                return self._answer(404, b"not found", "text/plain")
            if page.delay:
                time.sleep(page.delay)
            if page.auth:
                expected = "Basic " + base64.b64encode(":".join(page.auth).encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            body = page.body.encode() if isinstance(page.body, str) else page.body
            self._answer(page.status, body, page.content_type, page.headers)

        def _answer(self, status, body, content_type, headers=None):
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if not any(name.lower() == "cache-control" for name in headers or {}):
                    self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser gave up on a slow resource; nothing to answer

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server
