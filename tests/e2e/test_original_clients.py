"""Acceptance: the original dpxdt 0.1.5 client tools, unchanged (Python 2.7, from PyPI, installed
by `make test` into tests/tools/dpxdt-0.1.5), against this server and a real worker."""

import json
import subprocess

import pytest

from tests.conftest import ROOT, make_png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORIGINAL = ROOT / "tests" / "tools" / "dpxdt-0.1.5"
ARTICLE = (
    "<html><head><style>body{{font-family:'DejaVu Sans';margin:32px}}</style></head><body>"
    "<h1>{title}</h1><p>The {word} brown fox jumps over the lazy dog.</p>{links}</body></html>"
)


@pytest.fixture(scope="module")
def python2():
    """The Python 2.7 the original tools need, and the tools themselves (a missing one fails)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "python2.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (ORIGINAL / "dpxdt" / "tools" / "site_diff.py").exists(), (
        "the original client tools are not installed: run "
        "scripts/install-original-clients.sh (make test does)"
    )
    return result.stdout.strip()


def original(python2, live, tool, *args, release):
    """Run ``python2.7 -m dpxdt.tools.<tool>`` with the flags the original README shows."""
    key_id, secret = live.session.auth
    result = subprocess.run(
        [
            python2,
            "-m",
            f"dpxdt.tools.{tool}",
            f"--upload_build_id={live.build_id}",
            f"--release_server_prefix={live.base}",
            f"--release_client_id={key_id}",
            f"--release_client_secret={secret}",
            f"--upload_release_name={release}",
            *args,
        ],
        env={"PYTHONPATH": str(ORIGINAL), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The tools log a handled error with its traceback (find_run with no baseline yet, as
    # the original server answered too); their last word says whether they got through.
    assert "Results viewable at: http" in output, output
    return output


def runs_of(status):
    return {run["name"]: run for run in status["runs"]}


def test_url_pair_diff(python2, live, site):
    before = site.add("/v1/notes", ARTICLE.format(title="Notes", word="quick", links=""))
    after = site.add("/v2/notes", ARTICLE.format(title="Notes", word="slow", links=""))
    original(python2, live, "url_pair_diff", after, before, release="pair")
    status = live.wait_until_reviewing("pair", 1)
    assert runs_of(status)["/v2/notes"]["status"] == "diff_found"


def test_site_diff_crawls_and_the_server_captures(python2, live, site):
    links = "".join(f"<a href='/site/p{n}'>page {n}</a>" for n in range(3))
    start = site.add("/site/", ARTICLE.format(title="Home", word="quick", links=links))
    for n in range(3):
        site.add(f"/site/p{n}", ARTICLE.format(title=f"Page {n}", word="quick", links=""))
    original(python2, live, "site_diff", start, release="crawl")
    status = live.wait_until_reviewing("crawl", 1)
    assert set(runs_of(status)) == {"/site/", "/site/p0", "/site/p1", "/site/p2"}
    assert status["counts"]["failed"] == 0, status


def test_diff_my_images_against_the_last_good_release(python2, live, tmp_path):
    def tests_file(name, png, *, image=True):
        image_path = tmp_path / f"{name}.png"
        if image:
            image_path.write_bytes(png)
        log_path = tmp_path / f"{name}.log"
        log_path.write_text("rendered by the test\n")
        path = tmp_path / f"{name}.json"
        tests = [
            {
                "name": "home",
                "run_failed": False,
                "image_path": str(image_path),
                "log_path": str(log_path),
                "url": "http://example.com/home",
            }
        ]
        path.write_text(json.dumps(tests))
        return path

    flags = ("--release_cut_url=http://example.com/cut",)
    first = tests_file("first", make_png())
    original(python2, live, "diff_my_images", *flags, f"--tests_json_path={first}", release="imgs")
    live.wait_until_reviewing("imgs", 1)
    live.post("mark_release", release_name="imgs", release_number=1, status="good")

    changed = tests_file("second", make_png(squares=[(10, 10, 40, (0, 0, 0, 255))]))
    original(
        python2, live, "diff_my_images", *flags, f"--tests_json_path={changed}", release="imgs2"
    )
    run = runs_of(live.wait_until_reviewing("imgs2", 1))["home"]
    assert run["status"] == "diff_found"
    assert run["ref_image"] and run["image"] and run["diff_image"]

    # The image file is missing: the tool reports the run with its baseline and no image; the
    # run fails saying so, and the release still reaches review.
    missing = tests_file("third", b"", image=False)
    original(
        python2, live, "diff_my_images", *flags, f"--tests_json_path={missing}", release="imgs3"
    )
    run = runs_of(live.wait_until_reviewing("imgs3", 1))["home"]
    assert run["status"] == "failed"
    assert "no image reported" in run["failure_reason"]


def test_diff_my_urls(python2, live, site, tmp_path):
    before = site.add("/urls/v1", ARTICLE.format(title="Urls", word="quick", links=""))
    after = site.add("/urls/v2", ARTICLE.format(title="Urls", word="quick", links=""))
    config = {"viewportSize": {"width": 800, "height": 600}}
    tests = tmp_path / "urls.json"
    tests.write_text(
        json.dumps(
            [
                {
                    "name": "same",
                    "run_url": after,
                    "run_config": config,
                    "ref_url": before,
                    "ref_config": config,
                },
                {
                    "name": "styled",
                    "run_url": after,
                    "run_config": {**config, "injectCss": "h1 { color: red; }"},
                    "ref_url": before,
                    "ref_config": config,
                },
            ]
        )
    )
    original(
        python2,
        live,
        "diff_my_urls",
        "--release_cut_url=http://example.com/cut",
        f"--tests_json_path={tests}",
        release="urls",
    )
    runs = runs_of(live.wait_until_reviewing("urls", 1))
    assert runs["same"]["status"] == "diff_not_found"
    assert runs["styled"]["status"] == "diff_found"
