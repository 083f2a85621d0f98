"""The local tool's HTML report, opened from disk in real Chromium: the server's run page
views without a server."""

import os
import stat

import pytest
from playwright.sync_api import expect

from tests.conftest import SHOTS
from tests.localtool.test_cli import DEMO_HTML, demo, dpxdt  # noqa: F401 - demo is a fixture

pytestmark = pytest.mark.e2e


def test_a_failing_test_has_the_review_ui_in_its_report(demo, browser_page):  # noqa: F811
    assert dpxdt("update", "tests", cwd=demo).returncode == 0
    # A new paragraph under the heading pushes the rest down.
    (demo / "demo.html").write_text(
        DEMO_HTML.replace("</h2>\n", "</h2>\n<p>A line added at the top.</p>\n")
    )
    result = dpxdt("test", "tests", "--report", demo / "out", cwd=demo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Report: {demo / 'out' / 'index.html'}" in result.stdout
    assert {p.name for p in (demo / "out" / "images").iterdir()} == {"test.yaml-demo"}
    assert {p.name for p in (demo / "out" / "images" / "test.yaml-demo").iterdir()} == {
        "before.png",
        "after.png",
        "diff.png",
        "aligned.png",
    }

    page = browser_page
    page.goto((demo / "out" / "index.html").as_uri())
    expect(page.locator("#count-failed")).to_have_text("1")
    expect(page.locator("#tests .pill")).to_have_text("failed")
    page.click("text=demo")
    expect(page.locator("h1")).to_contain_text("demo")
    # The cause, named from the layout maps kept beside the reference image; what moved
    # below it is its consequence, not a cause.
    expect(page.locator("#causes li")).to_have_count(1)
    expect(page.locator("#causes li").first).to_contain_text(
        "`body > p:nth-of-type(1)` added (1264×19 px at y=54)"
    )
    for selector in (
        "figure img[alt=before]",
        "figure img[alt=diff]",
        "figure img[alt=after]",
    ):  # side by side, loaded from disk
        page.wait_for_function(f"document.querySelector({selector!r}).naturalWidth === 1280")
    # The same views and keys as the server's run page (runview/_run_views.html, run.js).
    page.keyboard.press("o")
    expect(page.locator("#slider")).to_be_visible()
    page.locator("#slider").fill("30")
    assert "70%" in page.locator(".overlay .top-layer").get_attribute("style")
    page.keyboard.press("4")
    expect(page.locator('[data-view="aligned"] img')).to_be_visible()
    page.keyboard.press("2")
    expect(page.locator('[data-view="diff"] img')).to_be_visible()
    page.keyboard.press("z")
    expect(page.locator("body")).to_have_class("zoomed")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    page.screenshot(path=str(SHOTS / "15-local-report.png"), full_page=True)
    page.keyboard.press("u")
    page.wait_for_url("**/index.html")


def test_open_shows_the_report_in_the_browser(demo, tmp_path):  # noqa: F811
    assert dpxdt("update", "tests", cwd=demo).returncode == 0
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake_browser.chmod(fake_browser.stat().st_mode | stat.S_IEXEC)
    os.environ["BROWSER"] = str(fake_browser)
    try:
        result = dpxdt("test", "tests", "--open", cwd=demo)
    finally:
        del os.environ["BROWSER"]
    assert result.returncode == 0, result.stdout + result.stderr
    index = demo / "tests" / "report" / "index.html"  # the default with --open
    assert opened.read_text().strip() == index.as_uri()
    assert "passed" in index.read_text()
