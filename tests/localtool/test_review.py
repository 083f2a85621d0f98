"""``dpxdt review DIR`` in real Chromium: accept one change, undo it, accept all; the reference
files' bytes checked at each step, and nothing written before a click."""

import hashlib
import io
import os
import re
import signal
import subprocess

import pytest
import requests

from tests.conftest import ROOT, SHOTS

pytestmark = pytest.mark.e2e


DPXDT = str(ROOT / ".venv" / "bin" / "dpxdt")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def dpxdt(*args, cwd):
    return subprocess.run(
        [DPXDT, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, env=ENV
    )


def digest(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture
def changed_suite(tmp_path, site):
    style = "<body style='margin:0;background:#fff'><h1 style='color:{}'>{}</h1></body>"
    site.add("/a", style.format("#000", "first"))
    site.add("/b", style.format("#000", "second"))
    (tmp_path / "s.yaml").write_text(
        "tests:\n"
        + "".join(
            f"  - name: {name}\n    url: {site.url}/{name}\n"
            "    config: {viewportSize: {width: 320, height: 120}, fullPage: false}\n"
            for name in ("a", "b")
        )
    )
    assert dpxdt("update", tmp_path, cwd=tmp_path).returncode == 0
    old = {name: (tmp_path / f"{name}.png").read_bytes() for name in ("a", "b")}
    site.add("/a", style.format("#c00", "first"))
    site.add("/b", style.format("#00c", "second, longer"))
    tested = dpxdt("test", tmp_path, cwd=tmp_path)
    assert tested.returncode == 1, tested.stdout + tested.stderr
    return tmp_path, old


@pytest.fixture
def reviewing(changed_suite):
    folder, old = changed_suite
    process = subprocess.Popen(
        [DPXDT, "review", str(folder)],
        cwd=folder,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = process.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+/)", first)
    assert match, first
    yield folder, old, match.group(1), process
    if process.poll() is None:
        process.kill()


def test_accept_undo_accept_all_in_chromium(reviewing, browser_page):
    folder, old, url, process = reviewing
    refs = {name: folder / f"{name}.png" for name in ("a", "b")}
    before = {name: digest(path) for name, path in refs.items()}
    assert before == {name: hashlib.sha1(data).hexdigest() for name, data in old.items()}
    new = {
        name: digest(folder / ".dpxdt" / "pending" / f"s.yaml-{name}.png") for name in ("a", "b")
    }
    assert new["a"] != before["a"] and new["b"] != before["b"]

    page = browser_page
    page.goto(url)
    assert page.locator("#tests td.review").count() == 2
    assert {name: digest(path) for name, path in refs.items()} == before  # nothing clicked yet
    page.locator("td.review[data-test='s.yaml-a'] button").click()
    page.wait_for_selector("td.review[data-test='s.yaml-a'] .pill")
    assert (digest(refs["a"]), digest(refs["b"])) == (new["a"], before["b"])

    page.locator("td.review[data-test='s.yaml-a'] button", has_text="Undo").click()
    page.wait_for_selector("td.review[data-test='s.yaml-a'] button:has-text('Accept')")
    assert (digest(refs["a"]), digest(refs["b"])) == (before["a"], before["b"])

    page.click("#accept-all")
    page.wait_for_selector("td.review[data-test='s.yaml-b'] .pill")
    assert (digest(refs["a"]), digest(refs["b"])) == (new["a"], new["b"])
    # The changed test's own page (the report's views) is served too.
    page.screenshot(path=str(SHOTS / "review-index.png"), full_page=True)
    page.click("a[href='tests/s.yaml-b.html']")
    page.wait_for_load_state("load")
    assert page.locator("img[src$='after.png']").count() >= 1
    page.screenshot(path=str(SHOTS / "review-test.png"), full_page=True)

    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=30)[0]
    assert "Accepted 2 new reference(s):" in output
    assert f"  a: {refs['a']}" in output and f"  b: {refs['b']}" in output
    # And the test passes now.
    assert dpxdt("test", folder, cwd=folder).returncode == 0


def test_only_its_own_page_can_make_it_write(reviewing):
    folder, old, url, process = reviewing
    reference = folder / "a.png"
    before = digest(reference)
    forged = requests.post(url + "accept-all", data={"token": "guess"}, timeout=10)
    assert forged.status_code == 403
    rebound = requests.get(url, headers={"Host": "evil.example:80"}, timeout=10)
    assert rebound.status_code == 403
    assert digest(reference) == before
    process.send_signal(signal.SIGTERM)
    assert "Nothing accepted." in process.communicate(timeout=30)[0]


def test_a_branchs_accepted_references_leave_the_main_lines_alone(tmp_path, site):
    """`dpxdt test --branch feature` compares with the main line's reference until the branch
    has its own; accepting writes the branch's (DIR/branches/feature/), never the main one."""
    from localtool import review

    style = "<body style='margin:0;background:#fff'><h1 style='color:{}'>x</h1></body>"
    site.add("/p", style.format("#000"))
    (tmp_path / "s.yaml").write_text(
        f"tests:\n  - name: p\n    url: {site.url}/p\n"
        "    config: {viewportSize: {width: 200, height: 80}, fullPage: false}\n"
    )
    assert dpxdt("update", tmp_path, cwd=tmp_path).returncode == 0
    main = (tmp_path / "p.png").read_bytes()
    site.add("/p", style.format("#c00"))
    assert dpxdt("test", tmp_path, "--branch", "feature", cwd=tmp_path).returncode == 1
    session = review.Review(tmp_path, out=io.StringIO())
    [slug] = session.changed
    session.act("accept", slug)
    branch_ref = tmp_path / "branches" / "feature" / "p.png"
    assert branch_ref.exists() and (tmp_path / "p.png").read_bytes() == main
    session.act("undo", slug)  # the branch had no reference of its own: it has none again
    assert not branch_ref.exists() and (tmp_path / "p.png").read_bytes() == main
    session.act("accept", slug)
    assert dpxdt("test", tmp_path, "--branch", "feature", cwd=tmp_path).returncode == 0
    assert dpxdt("test", tmp_path, cwd=tmp_path).returncode == 1  # main still has the old one
    # Undoing a branch's first accept removes the branch's reference again.
    assert (
        dpxdt(
            "test", tmp_path, "--branch", "other", "--base-branch", "feature", cwd=tmp_path
        ).returncode
        == 0
    )  # its base branch's reference
    session = review.Review(tmp_path, out=io.StringIO())
    assert not session.changed
