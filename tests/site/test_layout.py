"""Imports point one way: artifacts ← releases ← {capture, pdiff}; the pure modules and the
client tools import no Django."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "common": {"artifacts", "releases", "capture", "pdiff", "localtool", "dpxdt_site", "django"},
    "artifacts": {"releases", "capture", "pdiff", "localtool"},
    # The Celery app is the site's: releases sends by task name through celery.current_app.
    "releases": {"capture", "pdiff", "localtool", "celery_app", "dpxdt_site"},
    "pdiff": {"capture", "localtool"},
    "capture": {"pdiff", "localtool"},
    # The local tool needs no server code: what it shares with the server is in common.
    "localtool": {"releases", "artifacts", "dpxdt_site"},
}
DJANGO_FREE = [
    "pdiff/core.py",
    "pdiff/__main__.py",
    "pdiff/layout.py",
    "pdiff/causes.py",
    "pdiff/cause_types.py",
    "pdiff/matching.py",
    "pdiff/naming.py",
    "pdiff/noise.py",
    "pdiff/styles.py",
    "pdiff/wording.py",
    "pdiff/comparison.py",
    "pdiff/realign.py",
    "pdiff/result.py",
    "pdiff/cells.py",
    "pdiff/cover.py",
    "pdiff/diffimage.py",
    "pdiff/pngio.py",
    "capture/browser.py",
    "capture/engine.py",
    "capture/session.py",
    "capture/watch.py",
    "capture/failures.py",
    "capture/layout.py",
    "capture/config.py",
    "capture/checks.py",
    "localtool/cli.py",
    "localtool/runner.py",
    "localtool/tools.py",
    "localtool/crawler.py",
    "localtool/client.py",
    "localtool/yamlconfig.py",
    "localtool/cienv.py",
]


# The capture config's schema (pure, no Django) is read by the diff too: its diff keys.
SHARED = {"capture.config"}


def imported(path, *, full=False):
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if not any(name == shared or name.startswith(f"{shared}.") for shared in SHARED):
                modules.add(name if full else name.split(".")[0])
    return modules


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_imports_point_one_way(app):
    for path in (ROOT / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        assert not imported(path) & FORBIDDEN[app], path.relative_to(ROOT)


@pytest.mark.parametrize("name", DJANGO_FREE)
def test_pure_modules_import_no_django(name):
    modules = imported(ROOT / name)
    assert "django" not in modules and "releases" not in modules and "artifacts" not in modules
