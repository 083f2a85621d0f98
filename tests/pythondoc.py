"""Real content for capture tests and benchmarks: Debian's python3.11-doc HTML (a real site of
long pages with CSS, JavaScript and images), served on 127.0.0.1. make test and make bench
install the package (scripts/ensure-packages.sh)."""

import functools
import http.server
import threading
from pathlib import Path

DOCS = Path("/usr/share/doc/python3.11/html")
# 25 pages of library/: every 12th page in name order, and stdtypes (82,630 px tall).
PAGES = (
    sorted([*sorted(p.stem for p in (DOCS / "library").glob("*.html"))[::12][:24], "stdtypes"])
    if (DOCS / "library").is_dir()
    else []
)
# The five tallest of them (stdtypes and datetime are over maxHeight, so cut and striped).
TALLEST = ["stdtypes", "datetime", "subprocess", "gettext", "http.client"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root: Path = DOCS):
    """A threaded static server of ``root`` on 127.0.0.1; returns (server, base URL)."""
    if not (root / "library" / "index.html").exists() and root == DOCS:
        raise RuntimeError(
            f"{root} is missing: install Debian's python3.11-doc (scripts/ensure-packages.sh does)"
        )
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def heapq_edit(root: Path) -> tuple[str, str]:
    """library/heapq.html before and after a one-sentence edit near the top ("…heap queue
    algorithm, also known as the priority queue algorithm." -> "…algorithm."), written under
    ``root`` with the site's _static; returns their paths below ``root``. The paragraph loses
    a line, so everything below it moves up."""
    return _edited(
        root,
        "heapq",
        lambda html: html.replace(
            "heap queue algorithm, also known\nas the priority queue algorithm.",
            "heap queue algorithm.",
        ),
    )


def letter_spacing_edit(root: Path) -> tuple[str, str]:
    """library/datetime.html before and after ``p { letter-spacing: 0.6px }`` (every paragraph
    reflows and the page grows by about 1,000 px), written under ``root`` with the site's
    _static; returns their paths below ``root``."""
    return _edited(
        root,
        "datetime",
        lambda html: html.replace(
            "</head>", "<style>p { letter-spacing: 0.6px }</style></head>", 1
        ),
    )


def _edited(root: Path, page: str, edit) -> tuple[str, str]:
    """library/PAGE-before.html and library/PAGE-after.html (``edit`` of its HTML) under
    ``root``, with the site's _static; their paths below ``root``."""
    import shutil

    shutil.copytree(DOCS / "_static", root / "_static", dirs_exist_ok=True)
    (root / "library").mkdir(exist_ok=True)
    original = (DOCS / "library" / f"{page}.html").read_text()
    edited = edit(original)
    if edited == original:
        raise RuntimeError(f"library/{page}.html no longer has what the edit changes")
    (root / "library" / f"{page}-before.html").write_text(original)
    (root / "library" / f"{page}-after.html").write_text(edited)
    return f"library/{page}-before.html", f"library/{page}-after.html"
