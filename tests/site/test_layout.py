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
    "pdiff/warmup.py",
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


# Product code: the apps and the site, without migrations (tables of their own).
PRODUCT = [
    path
    for app in ("artifacts", "capture", "common", "dpxdt_site", "localtool", "pdiff", "releases")
    for path in sorted((ROOT / app).rglob("*.py"))
    if "migrations" not in path.parts
] + [ROOT / "celery_app.py"]
# Modules that are a table (keys, rows) and may run longer; none needs it today.
TABLES: set[str] = set()


@pytest.mark.parametrize("path", PRODUCT, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_room_is_too_big(path):
    """A newcomer reads a module in one sitting and a function on one screen: no product
    module over 500 lines, no function over 80 (a table excepted)."""
    name = str(path.relative_to(ROOT))
    source = path.read_text()
    if name not in TABLES:
        assert source.count("\n") <= 500, f"{name}: {source.count(chr(10))} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > 80
    ]
    assert not long, f"{name}: {', '.join(long)}"


def test_no_private_name_is_imported_from_another_module():
    """What a module keeps to itself (a leading underscore) stays there."""
    crossing = [
        f"{path.relative_to(ROOT)}: {alias.name} from {node.module}"
        for path in PRODUCT
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not crossing
