"""The local tool's HTML report: the server's run page, without a server.

``dpxdt test DIR --report OUT`` writes OUT/index.html (every test, passed or not) and, for
each test that changed, OUT/tests/NAME.html with the review UI's own views (side by side,
overlay slider, diff, aligned diff, before, after, zoom, the keys) rendered from the same
template (runview/_run_views.html) with the same CSS and JS, copied into OUT/static. The
images sit in OUT/images/NAME/; the whole folder can be zipped, attached to a CI job, opened
from disk.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from common import findings

from . import pending

ROOT = Path(__file__).resolve().parents[1]
# The run view's templates and the site's CSS and JS are common's, shared with the server.
TEMPLATE_DIRS = [ROOT / "common" / "templates", ROOT / "localtool" / "templates"]
STATIC = ROOT / "common" / "static" / "depicted"


@dataclass
class Entry:
    """One test in the report."""

    suite: str
    name: str
    result: str  # passed | failed | error | updated
    message: str = ""
    log: dict | None = None  # the DiffResult, as_dict()
    images: dict = field(default_factory=dict)  # before, after, diff, aligned -> bytes

    @property
    def slug(self) -> str:
        return pending.slug_of(self.suite, self.name)


def write(folder: Path, entries: list[Entry], *, title: str) -> Path:
    """Write the report; returns the path of its index.html."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "static").mkdir(exist_ok=True)
    for name in ("depicted.css", "run.js"):
        shutil.copyfile(STATIC / name, folder / "static" / name)
    changed = [entry for entry in entries if entry.images]
    template_engine = engine()
    for index, entry in enumerate(changed):
        images = {}
        for side, data in entry.images.items():
            path = folder / "images" / entry.slug / f"{side}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            images[side] = f"../images/{entry.slug}/{side}.png"
        page = template_engine.get_template("localtool/report_test.html").render(
            context(
                {
                    "title": title,
                    "entry": entry,
                    "images": images,
                    "findings": findings.shape(entry.log) if entry.log else None,
                    "status": "diff_found" if entry.result == "failed" else entry.result,
                    "previous": changed[index - 1] if index else None,
                    "next": changed[index + 1] if index + 1 < len(changed) else None,
                }
            )
        )
        (folder / "tests").mkdir(exist_ok=True)
        (folder / "tests" / f"{entry.slug}.html").write_text(page, encoding="utf-8")
    counts = {
        result: sum(entry.result == result for entry in entries)
        for result in ("passed", "failed", "error", "updated")
    }
    index_page = template_engine.get_template("localtool/report_index.html").render(
        context({"title": title, "entries": entries, "counts": counts})
    )
    (folder / "index.html").write_text(index_page, encoding="utf-8")
    return folder / "index.html"


def engine():
    """Django's template engine on its own: no project settings, no URL tags."""
    from django.conf import settings

    if not settings.configured:  # the dpxdt command; manage.py dpxdt_local has its settings
        settings.configure(USE_I18N=False, USE_TZ=True)
    from django.template import Engine

    return Engine(dirs=[str(path) for path in TEMPLATE_DIRS], autoescape=True)


def context(values: dict):
    from django.template import Context

    return Context(values)
