"""The CI tools: site diff, pair diff, diff my images, diff my URLs. Each creates a release on a
Depicted server over HTTP, adds its runs, marks the runs done and prints the results URL; with
``--wait`` it follows the release until it is ready for review and exits 0 when nothing
changed, 1 when changes need review, 2 on errors or failed runs.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from tqdm import tqdm

from . import cienv, junit
from .client import ApiError, Client
from .crawler import Crawler, CrawlError, CrawlOptions, run_name

EXIT_SAME, EXIT_CHANGED, EXIT_ERROR = 0, 1, 2
PENDING = {"data_pending", "needs_diff"}


class ToolError(RuntimeError):
    """Bad input to a tool; the message says what."""


def default_release_name() -> str:
    return str(datetime.datetime.now(datetime.UTC).replace(tzinfo=None))


def capture_config(args) -> dict:
    """The capture config the common flags describe."""
    config: dict[str, object] = {"viewportSize": {"width": args.width, "height": args.height}}
    if args.inject_css:
        config["injectCss"] = args.inject_css
    if args.inject_js:
        config["injectJs"] = args.inject_js
    if args.cookies:
        try:
            cookies = json.loads(Path(args.cookies).read_text())
        except (OSError, ValueError) as exc:
            raise ToolError(f"--cookies {args.cookies}: {exc}") from None
        if not isinstance(cookies, list):
            raise ToolError(f"--cookies {args.cookies}: must hold a JSON list of cookies")
        config["cookies"] = cookies
    if args.http_username or args.http_password:
        config["httpUserName"] = args.http_username or ""
        config["httpPassword"] = args.http_password or ""
    return config


class Release:
    """One release on the server, as a tool builds it."""

    def __init__(self, args, out=sys.stdout):
        self.args = args
        self.out = out
        self.client = Client(
            args.release_server_prefix, args.release_client_id, args.release_client_secret
        )
        self.build_id = args.upload_build_id
        if not self.build_id:
            raise ToolError("no build: give --upload_build_id (or DPXDT_UPLOAD_BUILD_ID)")
        self.name = args.upload_release_name or default_release_name()
        self.number = None
        self.context = cienv.Context()  # read by create()

    def branches(self) -> dict:
        """The branch parameters to send (none when nothing says: the original's calls)."""
        return {
            name: value
            for name in ("branch", "base_branch")
            if (value := getattr(self.context, name))
        }

    def create(self, url: str | None):
        self.context = cienv.detect(
            {
                name: getattr(self.args, name, None)
                for name in ("branch", "base_branch", "commit_sha")
            },
            os.environ,
        )
        print(f"Using {self.context.sentence()}", file=self.out)
        answer = self.client.call(
            "create_release",
            build_id=self.build_id,
            release_name=self.name,
            url=url or None,
            commit_sha=self.context.commit_sha or None,
            **self.branches(),
        )
        self.number = answer["release_number"]
        print(f"Created release {self.name!r} attempt #{self.number}", file=self.out)

    def ids(self) -> dict:
        return {"build_id": self.build_id, "release_name": self.name, "release_number": self.number}

    def request_run(self, name, url, config, ref_url=None, ref_config=None):
        self.client.call(
            "request_run",
            **self.ids(),
            run_name=name,
            url=url,
            config=json.dumps(config),
            ref_url=ref_url,
            ref_config=json.dumps(ref_config) if ref_url else None,
        )
        print(
            f"Requested {name}: {url}" + (f" against {ref_url}" if ref_url else ""), file=self.out
        )

    def finish(self) -> int:
        """runs_done, the results URL, then (with --wait) the verdict as an exit code."""
        answer = self.client.call("runs_done", **self.ids())
        print(f"Results viewable at: {answer['results_url']}", file=self.out)
        if not self.args.wait:
            return EXIT_SAME
        status = self.wait()
        return self.verdict(status)

    def wait(self) -> dict:
        started = time.monotonic()
        deadline = started + self.args.wait_timeout
        done_at_start = None
        with tqdm(desc="processing", unit="run", file=sys.stderr, disable=None) as progress:
            while True:
                status = self.client.call("release_status", method="GET", **self.ids())
                total = sum(status["counts"].values())
                done = total - sum(status["counts"].get(state, 0) for state in PENDING)
                progress.total = total
                progress.n = done
                progress.refresh()
                if status["status"] in ("reviewing", "good", "bad"):
                    return self.all_runs(status)
                now = time.monotonic()
                if now > deadline:
                    raise ToolError(
                        f"release not ready for review after "
                        f"{self.args.wait_timeout:g} s ({done}/{total} runs done)"
                    )
                if done_at_start is None:
                    done_at_start = done
                time.sleep(
                    poll_interval(
                        done - done_at_start, total - done, now - started, self.args.poll_seconds
                    )
                )

    def all_runs(self, status: dict) -> dict:
        """The status with the runs of every page (release_status gives a page at a time)."""
        runs = list(status["runs"])
        page = status
        while page.get("next"):
            page = self.client.call(
                "release_status",
                method="GET",
                **self.ids(),
                page=page["page"] + 1,
                per_page=page["per_page"],
            )
            runs += page["runs"]
        return {**status, "runs": runs}

    def verdict(self, status: dict) -> int:
        runs = status["runs"]
        changed = [run for run in runs if run["status"] == "diff_found"]
        failed = [run for run in runs if run["status"] == "failed"]
        flaky = [run for run in runs if run["status"] == "flaky"]
        for run in changed:
            print(f"  changed: {run['name']}: {change_of(run)}", file=self.out)
            for line in (run.get("summary") or "").split("\n")[1:]:
                print(f"           {line}", file=self.out)
        for run in flaky:
            print(
                f"  flaky:   {run['name']} (the page differs from itself; nothing else changed)",
                file=self.out,
            )
        for run in failed:
            print(f"  failed:  {run['name']}: {run['failure_reason']}", file=self.out)
        rest = len(runs) - len(changed) - len(failed) - len(flaky)
        print(
            f"{len(runs)} runs: {len(changed)} changed, {len(flaky)} flaky, {len(failed)} "
            f"failed, {rest} unchanged or new",
            file=self.out,
        )
        groups = [group for group in status.get("groups", []) if group.get("changed")]
        if groups:
            plural = "s" if len(groups) != 1 else ""
            print(f"{len(groups)} group{plural} of changes by cause:", file=self.out)
            for group in groups[:5]:
                pages = len(group["runs"])
                print(f"  {pages} page{'s' if pages != 1 else ''}: {group['label']}", file=self.out)
        if self.args.junit:
            write_junit(status, self.args.junit)
        if failed:
            return EXIT_ERROR
        blocking = changed + (flaky if status.get("flaky_blocks") else [])
        return EXIT_CHANGED if blocking else EXIT_SAME


# The shortest wait between two looks at a release that is about to be ready.
MIN_POLL_SECONDS = 0.25


def poll_interval(finished: int, remaining: int, elapsed: float, longest: float) -> float:
    """How long to wait before the next look at a release: ``longest`` while much remains;
    as it nears its end at the pace seen so far (``finished`` runs in ``elapsed`` seconds),
    half of the time it should still take, down to MIN_POLL_SECONDS. A ready release is so
    seen within a fraction of a second rather than up to ``longest`` later, for a few more
    looks only at its end."""
    if finished <= 0 or elapsed <= 0:
        return longest
    expected = remaining * elapsed / finished
    return min(longest, max(MIN_POLL_SECONDS, expected / 2))


def change_of(run: dict) -> str:
    """What changed in a run, in one line: its summary's first line (its causes), or, from a
    server that gives none, its share of changed pixels."""
    summary = (run.get("summary") or "").split("\n", 1)[0]
    if summary:
        return summary
    if run.get("changed_pixels"):
        return f"{run['changed_pixels']} changed pixels ({run['distortion'] or 0:.4%})"
    return "changed" + (" (page size)" if run.get("size_changed") else "")


def write_junit(status: dict, path) -> None:
    """One testcase per run: diff_found is a failure (flaky too where the build says so),
    failed an error, the rest pass."""
    blocking = {"diff_found"} | ({"flaky"} if status.get("flaky_blocks") else set())
    cases = [
        junit.Case(
            run["name"],
            f"build {status['build_id']}",
            failure=change_of(run) if run["status"] in blocking else None,
            error=run["failure_reason"] if run["status"] == "failed" else None,
            detail=status["results_url"] if run["status"] in blocking else "",
            output=run["status"],
        )
        for run in status["runs"]
    ]
    junit.write(path, {f"{status['release_name']} #{status['release_number']}": cases})


# --- the four tools -------------------------------------------------------------------------


def site_diff(args) -> int:
    options = CrawlOptions(
        depth=args.crawl_depth,
        ignore_prefixes=args.ignore_prefixes.split(),
        keep_query_string=args.keep_query_string,
        include=args.include,
        exclude=args.exclude,
        max_pages=args.max_pages,
        sitemap=args.sitemap,
        concurrency=args.crawl_concurrency,
        requests_per_second=args.crawl_rate,
        auth=(args.http_username, args.http_password) if args.http_username else None,
    )
    release = Release(args)
    config = capture_config(args)
    names: dict[str, str] = {}

    def request(url: str) -> None:
        # Each page's run is asked for as the crawl finds it: the workers start on the first
        # pages while the crawl goes on (at the default politeness of 10 requests a second, a
        # site of 60 pages takes 6 s to crawl).
        name = run_name(url, keep_query=args.keep_query_string)
        if name in names:  # two URLs with one name (another host): the first wins
            return
        if release.number is None:
            release.create(args.start_url)
        names[name] = url
        release.request_run(name, url, config)

    try:
        crawl = Crawler(args.start_url, options).crawl(on_page=request)
    except (CrawlError, ValueError) as exc:  # ValueError: a bad --include/--exclude regex
        raise ToolError(str(exc)) from None
    print(f"Found {len(crawl.pages)} pages ({len(crawl.skipped)} links skipped)", file=sys.stdout)
    if not crawl.pages:
        raise ToolError(f"no page to capture under {args.start_url}")
    return release.finish()


def pair_diff(args) -> int:
    """BEFORE AFTER, in the README's order (the original swapped them)."""
    release = Release(args)
    release.create(args.after_url)
    config = capture_config(args)
    release.request_run(
        urlsplit(args.after_url).path or "/",
        args.after_url,
        config,
        ref_url=args.before_url,
        ref_config=config,
    )
    return release.finish()


def diff_images(args) -> int:
    tests = _load_list(args.tests_json_path, ("name", "image_path"))
    release = Release(args)
    release.create(args.release_cut_url)
    client = release.client
    base = Path(args.tests_json_path).parent
    for test in tests:
        baseline = _last_good(client, release.build_id, test["name"], release.branches())
        fields = {"url": test.get("url"), "run_failed": "yes" if test.get("run_failed") else None}
        image = _resolve(base, test["image_path"])
        if not image.is_file():
            raise ToolError(f"{test['name']}: image_path {image} does not exist")
        fields["image"] = client.upload(release.build_id, image)
        if test.get("log_path"):
            log = _resolve(base, test["log_path"])
            if not log.is_file():
                raise ToolError(f"{test['name']}: log_path {log} does not exist")
            fields["log"] = client.upload(release.build_id, log)
        if baseline:
            fields.update(
                ref_image=baseline["image"],
                ref_log=baseline.get("log"),
                ref_url=baseline.get("url"),
                ref_config=baseline.get("config"),
            )
        else:
            print(
                f"Could not find last good run for {test['name']}: it becomes a baseline",
                file=sys.stdout,
            )
        client.call("report_run", **release.ids(), run_name=test["name"], **fields)
        print(f"Uploaded {test['name']}: {image}", file=sys.stdout)
    return release.finish()


def diff_urls(args) -> int:
    tests = _load_list(args.tests_json_path, ("name", "run_url"))
    release = Release(args)
    release.create(args.release_cut_url)
    for test in tests:
        ref_url = test.get("ref_url")
        release.request_run(
            test["name"],
            test["run_url"],
            test.get("run_config") or {},
            ref_url=ref_url,
            ref_config=(test.get("ref_config") or {}),
        )
    return release.finish()


def _last_good(client, build_id, name, branches):
    try:
        return client.call("find_run", build_id=build_id, run_name=name, **branches)
    except ApiError as exc:
        if "HTTP 404" in str(exc) and "no good release" in str(exc):
            return None
        raise


def _resolve(base: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() or candidate.exists() else base / candidate


def _load_list(path, required) -> list[dict]:
    if not path:
        raise ToolError("give --tests_json_path")
    try:
        text = Path(path).read_text()
        data = yaml.safe_load(text) if str(path).endswith((".yaml", ".yml")) else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ToolError(f"{path}: {exc}") from None
    if not isinstance(data, list) or not data:
        raise ToolError(f"{path}: must hold a non-empty list of tests")
    for index, test in enumerate(data):
        if not isinstance(test, dict) or any(not test.get(key) for key in required):
            raise ToolError(f"{path}: test {index} needs {', '.join(required)}")
    return data
