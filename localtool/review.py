"""``dpxdt review DIR``: the last ``dpxdt test DIR``'s changes in the report's pages, served on
127.0.0.1, with Accept, Accept all and Undo. Nothing is written without a click; accepting
writes the new reference atomically and keeps the old one for Undo (localtool.pending). On
exit the terminal says what was accepted. No Django settings, no server code.

The server answers only on 127.0.0.1, only to requests whose Host is its own address (a page
elsewhere cannot reach it through a DNS name), and takes a POST only with the page's one-time
token (no other site can make the browser click for you).
"""

from __future__ import annotations

import http.server
import secrets
import signal
import sys
import threading
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from . import pending, report


class Review:
    def __init__(self, directory: Path, out=sys.stdout):
        self.store = pending.Store(directory)
        self.directory = directory
        self.out = out
        self.changed = {each.slug: each for each in self.store.changed()}
        self.token = secrets.token_urlsafe(24)
        self.folder = self.store.root / "review"
        self.accepted: list[str] = []  # in the order of the clicks (an undo takes one out)
        self.lock = threading.Lock()

    def write_pages(self) -> None:
        """The report's pages of every changed test (before: the reference as it was)."""
        entries = [self._entry(each) for each in self.changed.values()]
        report.write(self.folder, entries, title=f"dpxdt review {self.directory}")

    def _entry(self, each: pending.Changed) -> report.Entry:
        images = {"before": self.store.original(each), "after": self.store.image(each.slug)}
        for side in ("diff", "aligned"):
            data = self.store.image(each.slug, side)
            if data:
                images[side] = data
        return report.Entry(each.suite, each.name, "failed", each.message, each.log, images)

    def index(self) -> str:
        entries = [self._entry(each) for each in self.changed.values()]
        for entry, slug in zip(entries, self.changed, strict=True):
            entry.accepted = self.store.accepted(slug)  # type: ignore[attr-defined]
        return (
            report.engine()
            .get_template("localtool/report_index.html")
            .render(
                report.context(
                    {
                        "title": f"dpxdt review {self.directory}",
                        "entries": entries,
                        "counts": {"failed": len(entries), "passed": 0, "error": 0},
                        "review": {"token": self.token},
                    }
                )
            )
        )

    def act(self, action: str, slug: str) -> None:
        with self.lock:
            targets = (
                list(self.changed.values()) if action == "accept-all" else [self.changed[slug]]
            )
            for each in targets:
                if action == "undo":
                    if self.store.revert(each) and each.slug in self.accepted:
                        self.accepted.remove(each.slug)
                        print(f"Undone: {each.name} ({each.reference})", file=self.out)
                elif self.store.accept(each):
                    self.accepted.append(each.slug)
                    print(f"Accepted: {each.name} → {each.reference}", file=self.out)
            self.out.flush()

    def summary(self) -> str:
        if not self.accepted:
            return "Nothing accepted."
        lines = [f"Accepted {len(self.accepted)} new reference(s):"]
        lines += [f"  {self.changed[s].name}: {self.changed[s].reference}" for s in self.accepted]
        return "\n".join(lines)


def serve(directory: Path, port: int = 0, out=sys.stdout, *, open_browser=False) -> int:
    review = Review(directory, out)
    if not review.changed:
        print(f"Nothing to review: the last `dpxdt test {directory}` found no changes.", file=out)
        return 0
    review.write_pages()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler(review))
    address = f"127.0.0.1:{server.server_port}"
    print(f"Review {len(review.changed)} changed test(s) at http://{address}/", file=out)
    print("Ctrl-C stops.", file=out, flush=True)
    if open_browser:
        webbrowser.open(f"http://{address}/")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C is how the review ends: say what was accepted
        print(file=out)
    finally:
        server.server_close()
        print(review.summary(), file=out, flush=True)
    return 0


def _handler(review: Review):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(review.folder), **kwargs)

        def log_message(self, *args):
            return  # the terminal shows what was accepted, not every request

        def _own_host(self) -> bool:
            port = getattr(self.server, "server_port", None)
            return self.headers.get("Host", "") == f"127.0.0.1:{port}"

        def do_GET(self):
            if not self._own_host():
                return self.send_error(403, "not this server's address")
            if urlsplit(self.path).path in ("/", "/index.html"):
                body = review.index().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
                return None
            return super().do_GET()

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(min(length, 65536)).decode("ascii", "replace"))
            action = urlsplit(self.path).path.strip("/")
            slug = (form.get("test") or [""])[0]
            token = (form.get("token") or [""])[0]
            if not self._own_host() or not secrets.compare_digest(token, review.token):
                return self.send_error(403, "this page's token is missing or wrong")
            if action not in ("accept", "undo", "accept-all") or (
                action != "accept-all" and slug not in review.changed
            ):
                return self.send_error(404, "no such test or action")
            review.act(action, slug)
            self.send_response(303)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None

    return Handler
