"""The local tool, run as a command against pages served on 127.0.0.1."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from PIL import Image

from localtool import runner, yamlconfig
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

DEMO_HTML = (
    "<h2>dpxdt local demo</h2>\n<p>dpxdt can be used to spot changes on local web servers.</p>\n"
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def readme_demo_yaml(port):
    """The YAML of the README's demo, as written, on a free port of 127.0.0.1."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n# tests/test.yaml\n(.*?)```", readme, re.S).group(1)
    assert "python3 -m http.server" in block
    return block.replace(
        "python3 -m http.server", f"python3 -m http.server {port} --bind 127.0.0.1"
    ).replace("localhost:8000", f"127.0.0.1:{port}")


def dpxdt(*args, cwd):
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "dpxdt"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def demo(tmp_path):
    (tmp_path / "demo.html").write_text(DEMO_HTML)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test.yaml").write_text(readme_demo_yaml(free_port()))
    return tmp_path


def test_readme_demo_update_then_test_passes_then_fails_on_change(demo):
    update = dpxdt("update", "tests", cwd=demo)
    assert update.returncode == 0, update.stdout + update.stderr
    # Only what concerns the tool's user: not the server's advice for its capture workers.
    assert "sandbox" not in update.stdout + update.stderr
    assert "succeeded, continuing with tests..." in update.stdout
    assert "demo: Updated tests/demo.png" in update.stdout
    assert Image.open(demo / "tests" / "demo.png").size == (1280, 1024)

    same = dpxdt("test", "tests", cwd=demo)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "demo passed (no diff)" in same.stdout
    assert "All tests passed!" in same.stdout

    (demo / "demo.html").write_text(DEMO_HTML.replace("can be used", "may be used"))
    changed = dpxdt("test", "tests", "--junit", demo / "report.xml", cwd=demo)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    lines = changed.stdout.splitlines()
    assert "demo failed" in lines
    assert re.search(r"^  [0-9.e-]+ distortion", changed.stdout, re.M)
    paths = {
        label: Path(re.search(rf"^  {label}:\s+(\S+)$", changed.stdout, re.M).group(1))
        for label in ("Ref", "Run", "Diff")
    }
    for path in paths.values():
        assert path.exists()
        assert Image.open(path).size == (1280, 1024)
    folder = paths["Ref"].parent
    assert f" (all):     {folder}/{{ref.png,run.png,diff.png}}" in lines
    assert "1 test(s) failed." in changed.stderr
    case = ElementTree.parse(demo / "report.xml").find(".//testcase")
    assert case.get("name") == "demo" and case.find("failure") is not None


def test_wait_for_timeout_is_an_error(tmp_path):
    port = free_port()  # nothing listens here
    (tmp_path / "t.yaml").write_text(f"""
waitFor:
    url: http://127.0.0.1:{port}/
    timeout_secs: 1
tests:
  - name: never
    url: http://127.0.0.1:{port}/
""")
    result = dpxdt("test", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "Timed out on waitFor step" in result.stderr
    assert "All tests passed" not in result.stdout


def test_setup_process_group_is_gone_afterwards_even_if_it_ignores_term(tmp_path):
    port = free_port()
    (tmp_path / "page.html").write_text("<p>hi</p>")
    pid_file = tmp_path / "pgid"
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "s.yaml").write_text(f"""
setup: |
    ps -o pgid= $$ | tr -d ' ' > {pid_file}
    (trap '' TERM; sleep 600) &
    exec python3 -m http.server {port} --bind 127.0.0.1
waitFor:
    url: http://127.0.0.1:{port}/page.html
    timeout_secs: 10
tests:
  - name: page
    url: http://127.0.0.1:{port}/page.html
""")
    started = time.monotonic()
    result = dpxdt("update", "suite", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    pgid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert time.monotonic() - started < 60


def test_missing_reference_is_an_error(tmp_path, site):
    url = site.add("/p", "<p>x</p>")
    (tmp_path / "t.yaml").write_text(f"tests:\n  - name: p\n    url: {url}\n")
    result = dpxdt("test", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "Try running in update mode" in result.stdout


def test_filter_list_output_dir_two_arms_and_anchors(tmp_path, site):
    old = site.add("/old", "<body style='background:#fff'><p>old</p></body>")
    new = site.add("/new", "<body style='background:#fff'><p>new</p></body>")
    (tmp_path / "suite.yaml").write_text(f"""
standard: &std
    viewportSize: {{width: 400, height: 300}}
    fullPage: false
tests:
  - name: home
    url: {old}
    config: *std
  - name: wide
    url: {old}
    config:
        <<: *std
        viewportSize: {{width: 500, height: 300}}
  - name: arms
    ref: {{url: {old}, config: *std}}
    run: {{url: {new}, config: *std}}
""")
    listed = dpxdt("update", tmp_path, "--list-tests", "--test-filter=-wide", cwd=tmp_path)
    assert listed.stdout.splitlines() == ["suite.yaml:", "  home", "  arms"]
    assert not list(tmp_path.glob("*.png"))

    assert dpxdt("update", tmp_path, cwd=tmp_path).returncode == 0
    assert Image.open(tmp_path / "home.png").size == (400, 300)
    assert Image.open(tmp_path / "wide.png").size == (500, 300)  # merge key overrides

    out = tmp_path / "out"
    result = dpxdt(
        "test", tmp_path, "--output-dir", out, "--test-filter", "home:arms", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "home passed (no diff)" in result.stdout
    assert "arms failed" in result.stdout  # ref arm was saved, the run arm differs
    assert "wide" not in result.stdout
    assert sorted(p.name for p in (out / "arms").iterdir()) == ["diff.png", "ref.png", "run.png"]
    assert sorted(p.name for p in (out / "home").iterdir()) == ["ref.png", "run.png"]


@pytest.mark.parametrize("parallel", [1, 2])
def test_parallel_captures_run_at_once_and_report_in_order(tmp_path, site, parallel):
    site.add("/slow.png", b"", content_type="image/png", delay=2)
    slow = site.add(f"/slow-{parallel}", "<p>slow</p><img src='/slow.png'>")
    fast = [site.add(f"/fast-{parallel}-{i}", f"<p>fast {i}</p>") for i in range(2)]
    tests = "".join(
        f"  - name: {name}\n    url: {url}\n    config: {{fullPage: false}}\n"
        for name, url in zip(["slow", "fast0", "fast1"], [slow, *fast], strict=True)
    )
    (tmp_path / "suite.yaml").write_text(f"tests:\n{tests}")
    result = dpxdt("update", tmp_path, "--parallel", parallel, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    updated = re.findall(r"^(\w+): Updated", result.stdout, re.M)
    assert updated == ["slow", "fast0", "fast1"]  # in the suite's order, whatever came first
    image = site.seen("/slow.png")[0].at
    first_fast = site.seen(f"/fast-{parallel}-0")[0].at
    if parallel == 2:
        assert first_fast - image < 1.5  # captured while the slow page still loaded
    else:
        assert first_fast - image >= 2


def test_manage_py_command_is_the_same_tool(tmp_path, site):
    url = site.add("/m", "<p>m</p>")
    (tmp_path / "t.yaml").write_text(f"tests:\n  - name: m\n    url: {url}\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "dpxdt_local", "update", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.png").exists()


@pytest.mark.parametrize(
    "filter_,name,expected",
    [
        ("", "anything", True),
        ("foo*", "foobar", True),
        ("foo*", "bar", False),
        ("*a*:*b*", "xbx", True),
        ("-*no*", "yes", True),
        ("-*no*", "nope", False),
        ("foo.*-foo.bar", "foo.baz", True),
        ("foo.*-foo.bar", "foo.bar", False),
    ],
)
def test_gtest_filter(filter_, name, expected):
    assert runner.matches(name, filter_) is expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("tests: []", "tests must be a non-empty list"),
        (
            "tests:\n  - name: 'bad name'\n    url: http://127.0.0.1/",
            "name must be a file-name-safe",
        ),
        (
            "tests:\n  - name: a\n    url: http://127.0.0.1/\n    config: {zoom: 2}",
            "test 'a': unknown config key: zoom",
        ),
        ("tests:\n  - name: a\n    ref: {url: 'http://127.0.0.1/'}", "exactly name, ref and run"),
        ("waitFor: 5\ntests:\n  - name: a\n    url: http://127.0.0.1/", "waitFor must be"),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_bad_suites_are_named(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(yamlconfig.SuiteError, match=re.escape(message)):
        yamlconfig.load_dir(tmp_path)


def test_config_tolerance_lets_a_small_change_pass(tmp_path, site):
    url = site.add("/t", "<body style='background:#fff'><p>before</p></body>")
    (tmp_path / "t.yaml").write_text(f"""
tests:
  - name: strict
    url: {url}
    config: {{viewportSize: {{width: 400, height: 300}}}}
  - name: tolerant
    url: {url}
    config: {{viewportSize: {{width: 400, height: 300}}, maxDistortion: 0.5}}
""")
    assert dpxdt("update", tmp_path, cwd=tmp_path).returncode == 0
    site.add("/t", "<body style='background:#fff'><p>after</p></body>")
    result = dpxdt("test", tmp_path, cwd=tmp_path)
    assert result.returncode == 1
    assert "strict failed" in result.stdout
    # What changed, by its cause (the layout maps kept beside the references), not a share.
    assert "strict failed\n  `p`: text “before” → “after”\n" in result.stdout
    assert (tmp_path / "strict.layout.json.gz").exists()
    assert "tolerant passed (no diff)" in result.stdout
