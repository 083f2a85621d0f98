"""The CI tools as commands against a live server, a real worker on Redis and real Chromium,
capturing pages served on 127.0.0.1."""

import json
import os
import subprocess
from xml.etree import ElementTree

import pytest
import requests

from releases import services
from releases.models import ApiKey
from tests.conftest import BLACK, ROOT, make_png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE = (
    "<html><head><style>body{{font-family:'DejaVu Sans';margin:24px;background:#fff}}"
    "{css}</style></head><body><h1>{title}</h1><p>Some text on {title}.</p>{links}</body></html>"
)


@pytest.fixture
def server(live_server, celery_worker):
    build = services.create_build(name="Tools E2E")
    key, secret = ApiKey.create(build=build, purpose="e2e")
    env = {
        **os.environ,
        "DPXDT_RELEASE_SERVER_PREFIX": f"{live_server.url}/api",
        "DPXDT_RELEASE_CLIENT_ID": key.id,
        "DPXDT_RELEASE_CLIENT_SECRET": secret,
        "DPXDT_UPLOAD_BUILD_ID": str(build.id),
        "DPXDT_POLL_SECONDS": "0.3",
    }

    class Server:
        url = live_server.url
        build_id = build.id
        environment = env

        @staticmethod
        def dpxdt(*args):
            return subprocess.run(
                [str(ROOT / ".venv" / "bin" / "dpxdt"), *map(str, args)],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )

        @staticmethod
        def api(endpoint, **data):
            response = requests.post(
                f"{live_server.url}/api/{endpoint}",
                auth=(key.id, secret),
                data={"build_id": build.id, **data},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            return response.json()

    return Server


def small(*extra):
    return ["--width", "640", "--height", "480", "--wait", *extra]


def add_site(site, css=""):
    names = [f"page{i}.html" for i in range(1, 10)]
    links = "".join(f"<a href='{name}'>{name}</a> " for name in names)
    site.add("/site/", PAGE.format(css="", title="Home", links=links))
    for name in names:
        site.add(
            f"/site/{name}",
            PAGE.format(
                css=css if name == "page3.html" else "", title=name, links="<a href='./'>home</a>"
            ),
        )


def test_site_diff_baseline_then_exactly_the_changed_page(server, site, tmp_path):
    add_site(site)
    first = server.dpxdt("site-diff", *small(), "--upload_release_name", "r1", f"{site.url}/site/")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Found 10 pages" in first.stdout
    assert "Results viewable at: " in first.stdout
    server.api("mark_release", release_name="r1", release_number=1, status="good")

    add_site(site, css="p{color:#c00}")  # one page's CSS changes
    report = tmp_path / "junit.xml"
    second = server.dpxdt(
        "site-diff", *small("--junit", report), "--upload-release-name", "r2", f"{site.url}/site/"
    )
    assert second.returncode == 1, second.stdout + second.stderr
    status = server.api("release_status", release_name="r2", release_number=1)
    by_status = {}
    for run in status["runs"]:
        by_status.setdefault(run["status"], []).append(run["name"])
    assert by_status == {
        "diff_found": ["/site/page3.html"],
        "diff_not_found": sorted(
            ["/site/"] + [f"/site/page{i}.html" for i in (1, 2, 4, 5, 6, 7, 8, 9)]
        ),
    }
    suite = ElementTree.parse(report).getroot()
    assert suite.get("tests") == "10" and suite.get("failures") == "1"
    failing = [case for case in suite if case.find("failure") is not None]
    assert [case.get("name") for case in failing] == ["/site/page3.html"]
    # What changed, by its cause, in --wait's lines and the JUnit failure: not "0.00 %".
    [changed] = by_status["diff_found"]
    summary = {run["name"]: run for run in status["runs"]}[changed]["summary"]
    assert summary.startswith("`p`") and "color" in summary and "#cc0000" in summary
    assert f"  changed: /site/page3.html: {summary.splitlines()[0]}" in second.stdout
    assert failing[0].find("failure").get("message") == summary.splitlines()[0]
    assert "1 group of changes by cause:" in second.stdout


def test_pair_diff_before_after_in_readme_order(server, site):
    before = site.add("/live/pricing", PAGE.format(css="", title="Pricing", links=""))
    after = site.add(
        "/staging/pricing", PAGE.format(css="h1{color:#080}", title="Pricing", links="")
    )
    result = server.dpxdt("pair-diff", *small(), "--upload_release_name", "pair", before, after)
    assert result.returncode == 1, result.stdout + result.stderr
    run = server.api("release_status", release_name="pair", release_number=1)["runs"][0]
    assert run["name"] == "/staging/pricing"  # named after AFTER
    assert run["url"] == after and run["ref_url"] == before
    assert run["status"] == "diff_found"


def test_failed_run_exits_2(server, site):
    before = site.add("/ok", PAGE.format(css="", title="ok", links=""))
    after = site.add("/broken", "down", status=503)
    result = server.dpxdt("pair-diff", *small(), before, after)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "failed:  /broken: capture failed" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_diff_urls(server, site, tmp_path, fmt):
    same = site.add("/a", PAGE.format(css="", title="A", links=""))
    old = site.add("/b-old", PAGE.format(css="", title="B", links=""))
    new = site.add("/b-new", PAGE.format(css="", title="B, new", links=""))
    config = {"viewportSize": {"width": 640, "height": 480}}
    tests = [
        {
            "name": "same",
            "run_url": same,
            "run_config": config,
            "ref_url": same,
            "ref_config": config,
        },
        {
            "name": "changed",
            "run_url": new,
            "run_config": config,
            "ref_url": old,
            "ref_config": config,
        },
    ]
    path = tmp_path / f"tests.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(tests))
    else:
        import yaml

        path.write_text(yaml.safe_dump(tests))
    result = server.dpxdt(
        "diff-urls",
        "--wait",
        "--tests_json_path",
        path,
        "--release_cut_url",
        "https://example.com/cut",
        "--upload_release_name",
        f"urls-{fmt}",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    runs = {
        run["name"]: run["status"]
        for run in server.api("release_status", release_name=f"urls-{fmt}", release_number=1)[
            "runs"
        ]
    }
    assert runs == {"same": "diff_not_found", "changed": "diff_found"}


def test_diff_images_against_the_last_good_set(server, tmp_path):
    def image_set(name, changed):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "home.png").write_bytes(make_png())
        (folder / "cart.png").write_bytes(
            make_png(squares=[(10, 10, 30, BLACK)] if changed else [])
        )
        (folder / "log.txt").write_text("captured by selenium\n")
        tests = [
            {
                "name": "home",
                "run_failed": False,
                "image_path": "home.png",
                "log_path": "log.txt",
                "url": "http://example.com/",
            },
            {
                "name": "cart",
                "run_failed": False,
                "image_path": "cart.png",
                "url": "http://example.com/cart",
            },
        ]
        (folder / "tests.json").write_text(json.dumps(tests))
        return folder / "tests.json"

    first = server.dpxdt(
        "diff-images",
        "--wait",
        "--tests_json_path",
        image_set("one", False),
        "--release_cut_url",
        "https://example.com/1",
        "--upload_release_name",
        "Awesome",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Could not find last good run for home" in first.stdout
    server.api("mark_release", release_name="Awesome", release_number=1, status="good")

    second = server.dpxdt(
        "diff-images",
        "--wait",
        "--tests_json_path",
        image_set("two", True),
        "--release_cut_url",
        "https://example.com/2",
        "--upload_release_name",
        "Awesome",
    )
    assert second.returncode == 1, second.stdout + second.stderr
    runs = {
        run["name"]: run
        for run in server.api("release_status", release_name="Awesome", release_number=2)["runs"]
    }
    assert runs["home"]["status"] == "diff_not_found"
    assert runs["cart"]["status"] == "diff_found"
    assert runs["cart"]["changed_pixels"] == 900


def test_missing_image_is_a_clear_error(server, tmp_path):
    (tmp_path / "t.json").write_text(json.dumps([{"name": "x", "image_path": "nope.png"}]))
    result = server.dpxdt(
        "diff-images",
        "--tests_json_path",
        tmp_path / "t.json",
        "--release_cut_url",
        "https://example.com/",
    )
    assert result.returncode == 2
    assert "image_path" in result.stderr and "nope.png does not exist" in result.stderr


def test_wrong_secret_is_reported(server, site):
    url = site.add("/x", PAGE.format(css="", title="x", links=""))
    result = server.dpxdt("pair-diff", "--release_client_secret", "wrong", url, url)
    assert result.returncode == 2
    assert "create_release: HTTP 403: invalid API key or secret" in result.stderr


def test_branch_baselines_from_ci_environments(server, tmp_path):
    """main's good release (A); a pull request's release on ``feature`` compares with A and is
    marked good; main's next release still compares with A, the branch's next with the
    branch's good one. The tool reads the branches from GitHub Actions' variables."""
    images = {
        "A": make_png(),
        "F": make_png(squares=[(10, 10, 30, BLACK)]),
    }

    def run(release, image, **environ):
        folder = tmp_path / release
        folder.mkdir()
        (folder / "home.png").write_bytes(images[image])
        (folder / "tests.json").write_text(json.dumps([{"name": "home", "image_path": "home.png"}]))
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "dpxdt"), "diff-images", "--wait"]
            + ["--tests_json_path", str(folder / "tests.json"), "--upload_release_name", release],
            env={**server.environment, "GITHUB_SHA": "ab" * 20, **environ},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode in (0, 1), done.stdout + done.stderr
        [home] = server.api("release_status", release_name=release, release_number=1)["runs"]
        return done.stdout, home

    on_main = {"GITHUB_REF_NAME": "main"}
    pull = {"GITHUB_HEAD_REF": "feature", "GITHUB_BASE_REF": "main", "GITHUB_REF_NAME": "7/merge"}
    out, a = run("main-1", "A", **on_main)
    assert "Using branch main (GITHUB_REF_NAME), commit abab" in out
    server.api("mark_release", release_name="main-1", release_number=1, status="good")

    out, f = run("pr-1", "F", **pull)
    assert "branch feature (GITHUB_HEAD_REF), base branch main (GITHUB_BASE_REF)" in out
    assert f["ref_image"] == a["image"] and f["status"] == "diff_found"
    server.api("mark_release", release_name="pr-1", release_number=1, status="good")

    _, main_again = run("main-2", "A", **on_main)
    assert main_again["ref_image"] == a["image"] and main_again["status"] == "diff_not_found"
    _, pr_again = run("pr-2", "F", **pull)
    assert pr_again["ref_image"] == f["image"] and pr_again["status"] == "diff_not_found"
    # find_run answers per branch, and a branch with no good run falls back to its base.
    assert server.api("find_run", run_name="home", branch="feature")["image"] == f["image"]
    assert server.api("find_run", run_name="home")["image"] == a["image"]
    assert server.api("find_run", run_name="home", branch="other")["image"] == a["image"]
