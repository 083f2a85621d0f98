"""How a tool's --wait turns a finished release into an exit code."""

import io
from types import SimpleNamespace

import pytest

from localtool import tools


def release(out):
    args = SimpleNamespace(
        release_server_prefix="http://127.0.0.1:9/api",
        release_client_id="k",
        release_client_secret="s",
        upload_build_id=1,
        upload_release_name="r",
        junit=None,
    )
    return tools.Release(args, out=out)


def status(*runs, flaky_blocks=False):
    return {
        "runs": [
            {
                "name": name,
                "status": state,
                "distortion": 0.01,
                "changed_pixels": 1,
                "failure_reason": "",
            }
            for name, state in runs
        ],
        "flaky_blocks": flaky_blocks,
    }


@pytest.mark.parametrize(
    "runs, flaky_blocks, code",
    [
        ([("/a", "diff_not_found"), ("/b", "flaky")], False, tools.EXIT_SAME),
        ([("/a", "diff_not_found"), ("/b", "flaky")], True, tools.EXIT_CHANGED),
        ([("/a", "diff_found"), ("/b", "flaky")], False, tools.EXIT_CHANGED),
        ([("/a", "failed"), ("/b", "flaky")], False, tools.EXIT_ERROR),
    ],
)
def test_flaky_runs_block_only_when_the_build_says_so(runs, flaky_blocks, code):
    out = io.StringIO()
    assert release(out).verdict(status(*runs, flaky_blocks=flaky_blocks)) == code
    assert "flaky:   /b (the page differs from itself; nothing else changed)" in out.getvalue()
    assert "1 flaky" in out.getvalue()


def test_the_verdict_reads_every_page_of_runs():
    out = io.StringIO()
    tool = release(out)
    tool.number = 1
    pages = {
        2: {
            "runs": [
                {
                    "name": "/b",
                    "status": "diff_found",
                    "distortion": 0.1,
                    "changed_pixels": 9,
                    "failure_reason": "",
                }
            ],
            "page": 2,
            "per_page": 1,
            "next": None,
        }
    }
    asked = []

    class Client:
        def call(self, endpoint, method="POST", **params):
            asked.append(params["page"])
            return pages[params["page"]]

    tool.client = Client()
    first = {
        **status(("/a", "diff_not_found")),
        "page": 1,
        "per_page": 1,
        "next": "http://127.0.0.1:9/api/release_status?page=2",
    }
    everything = tool.all_runs(first)
    assert asked == [2]
    assert [run["name"] for run in everything["runs"]] == ["/a", "/b"]
    assert tool.verdict(everything) == tools.EXIT_CHANGED
