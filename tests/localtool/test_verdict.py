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


def test_waiting_looks_more_often_only_as_the_release_nears_its_end(monkeypatch):
    """100 runs done at 10 a second, the release ready at 10.05 s: a look every 2 s while much
    remains, then more often, so the ready release is seen a fraction of a second later, not
    up to 2 s later, for a handful of looks more."""
    clock = {"now": 0.0}
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(tools.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(tools.time, "sleep", sleep)

    class Client:
        def call(self, endpoint, method="POST", **params):
            done = min(100, int(clock["now"] * 10))
            return {
                "status": "reviewing" if clock["now"] >= 10.05 else "processing",
                "counts": {"diff_not_found": done, "needs_diff": 100 - done},
                "runs": [],
                "next": None,
            }

    tool = release(io.StringIO())
    tool.args.wait_timeout, tool.args.poll_seconds = 600, 2.0
    tool.number = 1
    tool.client = Client()
    tool.wait()
    assert sleeps[:4] == [2.0] * 4  # far from the end: the usual pace
    assert min(sleeps) >= tools.MIN_POLL_SECONDS
    assert 10.05 <= clock["now"] <= 10.05 + tools.MIN_POLL_SECONDS
    assert len(sleeps) <= 10


def test_no_progress_yet_means_the_usual_pace():
    assert tools.poll_interval(0, 50, 10.0, 2.0) == 2.0
    assert tools.poll_interval(10, 0, 5.0, 2.0) == tools.MIN_POLL_SECONDS
    assert tools.poll_interval(10, 0, 5.0, 0.1) == 0.1  # never longer than asked
