"""make bench: capture on a real site, Debian's python3.11-doc HTML (long pages with CSS, JS and
images), served from 127.0.0.1.

1. The capture engine (capture.browser.Browser, one process, warm, full page), one capture at
   a time and with two lanes (two captures in flight in its one Chromium), against a plain
   Playwright loop (one page: goto + screenshot(full_page=True)) on the same 25 pages
   (tests/pythondoc.PAGES), alternating, three rounds each; medians and the ratios; and the
   engine one at a time without layout maps (``layoutMap: false``): what recording them costs.
2. End to end: `dpxdt site-diff --wait` over 60 pages of that site against a server started as
   `make run` does (gunicorn + Redis), with the worker layout the README recommends for one
   2-core host (capture workers `-Q capture -c 2`, one `-Q diff,default -c 1`): the baseline
   release, then the second release with a CSS change on every page (every run diff_found).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests import pythondoc  # noqa: E402
from tests.bench.bench_site_diff import (  # noqa: E402
    bootstrap,
    client_env,
    free_port,
    mark_good,
    redis_up,
    run_site_diff,
    server_env,
    start_site,
    start_web,
    wait_port,
)
from tests.processes import PLAIN_CHROMIUM_ARGS  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
# The README's layout for one 2-core host; DPXDT_BENCH_CAPTURE_PROCESSES tries others.
CAPTURE_PROCESSES = os.environ.get("DPXDT_BENCH_CAPTURE_PROCESSES", "2")
DIFF_PROCESSES = os.environ.get("DPXDT_BENCH_DIFF_PROCESSES", "1")


def plain_loop(base: str) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=PLAIN_CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1024})
        page.goto(f"{base}/library/index.html")
        page.screenshot(full_page=True)  # warm
        started = time.monotonic()
        for name in pythondoc.PAGES:
            page.goto(f"{base}/library/{name}.html")
            page.screenshot(full_page=True)
        seconds = time.monotonic() - started
        browser.close()
    return seconds


def engine_loop(base: str, lanes: int = 1, layout: bool = True) -> float:
    """The engine over the pages; with ``lanes`` > 1, that many captures in flight in its one
    Chromium (from as many threads), as the local tool runs them; ``layout``: each capture
    records its layout map too (the default)."""
    from concurrent.futures import ThreadPoolExecutor

    from capture import config
    from capture.browser import Browser

    browser = Browser(lanes=lanes)
    options = config.parse({"layoutMap": layout})

    def capture(name):
        return browser.capture(options.with_target(f"{base}/library/{name}.html"))

    try:
        capture("index")  # warm
        started = time.monotonic()
        with ThreadPoolExecutor(lanes) as pool:
            list(pool.map(capture, pythondoc.PAGES))
        return time.monotonic() - started
    finally:
        browser.close()


# Whose CPU time a process's is, by its command line (first match).
ROLES = [
    ("Chromium (the capture workers')", "chromium"),
    ("Playwright driver (node)", "playwright"),
    ("capture workers (Python)", "capture@"),
    ("diff worker", "diff@"),
    ("web server", "gunicorn"),
]


def cpu_seconds_by_role() -> dict[str, float]:
    """CPU seconds (user + system) so far of every live process, summed by ROLES (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (proc / "stat").read_text()
        except (OSError, ValueError):
            continue  # not a process, or it ended meanwhile
        role = next((name for name, marker in ROLES if marker in command), None)
        if role:
            fields = stat[stat.rfind(")") + 2 :].split()
            totals[role] = totals.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def per_minute(seconds: float, pages: int = len(pythondoc.PAGES)) -> float:
    return pages / seconds * 60


def engine_against_plain():
    server, base = pythondoc.serve()
    plain, engine, lanes, bare = [], [], [], []
    try:
        for _ in range(3):
            plain.append(plain_loop(base))
            engine.append(engine_loop(base))
            bare.append(engine_loop(base, layout=False))
            lanes.append(engine_loop(base, lanes=2))
    finally:
        server.shutdown()
    p = statistics.median(plain)
    print(
        f"25 python3.11-doc pages, full page, one process ({os.cpu_count()} cores), "
        "median of 3 rounds:"
    )
    print(
        f"  plain Playwright loop:     {p:5.1f} s  {per_minute(p):5.1f} pages/min  "
        f"(rounds {', '.join(f'{s:.1f}' for s in plain)})"
    )
    for label, rounds in (("one at a time", engine), ("2 lanes", lanes)):
        e = statistics.median(rounds)
        print(
            f"  Depicted engine, {label + ':':14s}{e:5.1f} s  {per_minute(e):5.1f} pages/min  "
            f"(rounds {', '.join(f'{s:.1f}' for s in rounds)}), {p / e:.2f}x the plain loop"
        )
    print("  target: 2x")
    with_maps, without = statistics.median(engine), statistics.median(bare)
    print(
        f"  layout maps: one at a time {with_maps:5.1f} s with them, {without:5.1f} s without "
        f"(rounds {', '.join(f'{s:.1f}' for s in bare)}): "
        f"{(with_maps - without) / without:+.1%} of capture time (target: at most +10 %)"
    )


def breakdown(api: str, keys: dict, release: str) -> None:
    """Where a run's time went, from its capture log and diff result (medians)."""
    auth = (keys["api_key"], keys["api_secret"])
    status = requests.get(
        f"{api}/release_status",
        auth=auth,
        timeout=60,
        params={"build_id": keys["build_id"], "release_name": release, "release_number": 1},
    ).json()

    def artifact(sha1):
        return requests.get(
            f"{api}/download",
            auth=auth,
            timeout=60,
            params={"build_id": keys["build_id"], "sha1sum": sha1},
        ).content

    ready, shot, fetch, compare, heights = [], [], [], [], []
    second_screenshots, reflowed, unexplained = 0, 0, []
    for run in status["runs"]:
        log = artifact(run["log"]).decode()
        ready += [float(ms) for ms in re.findall(r"page ready after (\d+) ms", log)]
        shot += [float(ms) for ms in re.findall(r"screenshot \d+ bytes in (\d+) ms", log)]
        if run["diff_log"]:
            result = json.loads(artifact(run["diff_log"]))
            fetch.append(result["seconds"]["fetch"] * 1000)
            compare.append(result["seconds"]["compare"] * 1000)
            heights.append(result["after_size"][1])
            second_screenshots += bool(result.get("recapture"))
            if result.get("recapture") and os.environ.get("DPXDT_BENCH_VERBOSE"):
                kinds = [cause["kind"] for cause in result["causes"]][:4]
                noise = [cause["kind"] for cause in result["noise_causes"]][:4]
                print(f"    second screenshot: {run['name']}: causes {kinds}, noise {noise}")
            reflowed += result.get("reflowed_below") is not None
            unexplained.append(result.get("unexplained_pixels") or 0)
    median = statistics.median
    print(
        f"  second looks: {second_screenshots} runs took a second screenshot (the others, if "
        f"changed, a reload for the layout map only); {reflowed} runs' rows do not align; "
        f"unexplained pixels in {sum(1 for n in unexplained if n)} runs "
        f"(median {median(unexplained or [0]):.0f}); diff time in all {sum(compare) / 1000:.1f} s"
    )
    print(
        f"  per run, medians: page ready {median(ready):.0f} ms, screenshot (raster, PNG "
        f"encode, stitching) {median(shot):.0f} ms (max {max(shot):.0f}), diff: fetch "
        f"{median(fetch):.0f} ms, decode+compare+encode {median(compare):.0f} ms "
        f"(max {max(compare):.0f}); page height median {median(heights):.0f} px, "
        f"max {max(heights)}"
    )


def docs_site(folder: Path, pages: list[str]) -> None:
    """A copy of the docs whose home page links ``pages`` (library/NAME.html) only."""
    shutil.copytree(
        pythondoc.DOCS,
        folder,
        symlinks=False,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("*.txt"),
    )
    links = "".join(f"<li><a href='library/{name}.html'>{name}</a></li>" for name in pages)
    (folder / "index.html").write_text(f"<html><body><ul>{links}</ul></body></html>")


# The releases of the end-to-end part: a rule added to the site's stylesheet, against the
# baseline. Links: every page changes in a colour; letter-spacing: the text of every page
# reflows (the page grows, rows no longer align).
RELEASES = [
    ("links recoloured", "a, a:visited { color: #b00020 !important; }"),
    ("paragraphs' letter-spacing", "p { letter-spacing: 0.6px; }"),
]


def plain_loop_over(urls: list[str]) -> float:
    """A plain Playwright loop (one process, one page, the engine's default viewport): goto
    and a full-page screenshot of each URL; seconds, after one warm-up page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=PLAIN_CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1024})
        page.goto(urls[0])
        page.screenshot(full_page=True)
        started = time.monotonic()
        for url in urls:
            page.goto(url)
            page.screenshot(full_page=True)
        seconds = time.monotonic() - started
        browser.close()
    return seconds


def worker_processes(marker: str) -> list[int]:
    """PIDs of the live processes whose command line holds ``marker`` (a worker's -n name)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in command and "celery" in command:
            found.append(int(proc.name))
    return found


def reset_peaks(pids: list[int]) -> None:
    """Start each process's peak RSS afresh (Linux: 5 to clear_refs resets VmHWM)."""
    for pid in pids:
        # Ended meanwhile, or not ours to reset: its peak then covers more.
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def uploaded_pair(api: str, keys: dict, tool_env: dict, scratch: Path) -> None:
    """A pair of Playwright full-page screenshots (its default compression, a few words
    changed) sent with `dpxdt diff-images`: the diff worker's time on it (from the run's diff
    log: decode, compare, diff image) against odiff's whole process on the same files."""
    from playwright.sync_api import sync_playwright

    from tests.bench.bench_pdiff import page

    folder = scratch / "uploaded"
    folder.mkdir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=PLAIN_CHROMIUM_ARGS
        )
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        for side, word in (("before", "quick"), ("after", "slow")):
            tab.set_content(page(word, 46))
            (folder / f"{side}.png").write_bytes(tab.screenshot(full_page=True))
        browser.close()
    for side in ("before", "after"):
        tests = [{"name": "full page", "image_path": str(folder / f"{side}.png")}]
        (folder / "tests.json").write_text(json.dumps(tests))
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "dpxdt"), "diff-images", "--wait",
             "--upload_release_name", f"uploaded {side}",
             "--tests_json_path", str(folder / "tests.json")],
            env=tool_env, capture_output=True, check=False,
        )  # fmt: skip
        if side == "before":
            mark_good(api, keys, "uploaded before")
    auth = (keys["api_key"], keys["api_secret"])
    status = requests.get(
        f"{api}/release_status",
        auth=auth,
        timeout=60,
        params={
            "build_id": keys["build_id"],
            "release_name": "uploaded after",
            "release_number": 1,
        },
    ).json()
    [run] = status["runs"]
    log = json.loads(
        requests.get(
            f"{api}/download",
            auth=auth,
            timeout=60,
            params={"build_id": keys["build_id"], "sha1sum": run["diff_log"]},
        ).content
    )
    odiff = ROOT / "tests" / "tools" / "node_modules" / ".bin" / "odiff"
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(
            [str(odiff), str(folder / "before.png"), str(folder / "after.png"),
             str(folder / "odiff.png"), "--antialiasing"],
            capture_output=True, check=False,
        )  # fmt: skip
        samples.append(time.perf_counter() - started)
    ours, theirs = log["seconds"]["compare"], statistics.median(samples)
    print(
        f"  a pair sent with diff-images ({log['after_size'][0]}x{log['after_size'][1]}, "
        f"{log['changed_pixels']} changed pixels): the diff worker's compare {ours * 1000:.0f} ms, "
        f"odiff's process {theirs * 1000:.0f} ms: {ours / theirs:.2f}x "
        f"(target <= 0.8: {'met' if ours <= 0.8 * theirs else 'MISSED'})"
    )


def end_to_end(pages: int = 60):
    names = sorted(p.stem for p in (pythondoc.DOCS / "library").glob("*.html"))[1::5][:pages]
    scratch = Path(tempfile.mkdtemp(prefix="dpxdt-bench-docs-"))
    site = scratch / "site"
    docs_site(site, names)
    stylesheet = site / "_static" / "pydoctheme.css"
    original_css = stylesheet.read_text()
    env = server_env(scratch)
    if not redis_up():
        raise SystemExit("Redis is not running on 127.0.0.1:6379 (scripts/services.sh)")
    env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    env["DPXDT_BROKER_KEY_PREFIX"] = f"dpxdt-bench-docs-{os.getpid()}:"
    keys = bootstrap(env)
    web_port, site_port = free_port(), free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    worker = [PY, "-m", "celery", "-A", "celery_app", "worker", "--loglevel", "WARNING"]
    processes = [
        start_web(env, web_port, **quiet),
        subprocess.Popen(
            [*worker, "-Q", "capture", "-c", CAPTURE_PROCESSES, "-n", "capture@%h"],
            cwd=ROOT,
            env=env,
            **quiet,
        ),
        subprocess.Popen(
            [*worker, "-Q", "diff,default", "-c", DIFF_PROCESSES, "-n", "diff@%h"],
            cwd=ROOT,
            env=env,
            **quiet,
        ),
        start_site(site, site_port, **quiet),
    ]
    try:
        wait_port(web_port)
        wait_port(site_port)
        time.sleep(5)  # the workers start their pools
        api = f"http://127.0.0.1:{web_port}/api"
        tool_env = client_env(env, api, keys)
        urls = [f"http://127.0.0.1:{site_port}/"] + [
            f"http://127.0.0.1:{site_port}/library/{name}.html" for name in names
        ]
        print(
            f"site-diff --wait over {len(names)} python3.11-doc pages (+ the index page), "
            f"workers -Q capture -c {CAPTURE_PROCESSES} and -Q diff,default -c {DIFF_PROCESSES}, "
            "Redis, layout maps on:"
        )

        def site_diff(release):
            seconds, code, summary = run_site_diff(
                tool_env, release, f"http://127.0.0.1:{site_port}/", "--crawl_depth", "1"
            )
            print(
                f"  {release}: {seconds:6.1f} s, "
                f"{per_minute(seconds, len(urls)):5.1f} pages/min, exit {code}, {summary}"
            )
            return seconds

        site_diff("baseline")
        mark_good(api, keys, "baseline")
        # The plain loop over the same pages, before and after the releases (the machine's
        # speed drifts over minutes): each release is judged against the mean of both.
        plain = [plain_loop_over(urls)]
        print(
            f"  plain Playwright loop (one process) over the same {len(urls)} pages: "
            f"{plain[0]:5.1f} s, {per_minute(plain[0], len(urls)):5.1f} pages/min"
        )
        measured = []
        only = os.environ.get("DPXDT_BENCH_RELEASES", "")  # e.g. "letter": just that one
        for label, rule in [r for r in RELEASES if only.lower() in r[0].lower()]:
            stylesheet.write_text(original_css + "\n" + rule + "\n")
            pids = {role: worker_processes(role) for role in ("capture@", "diff@")}
            reset_peaks([pid for group in pids.values() for pid in group])
            cpu_before = cpu_seconds_by_role()
            seconds = site_diff(label)
            cpu_after = cpu_seconds_by_role()
            spent = {role: cpu_after.get(role, 0) - cpu_before.get(role, 0) for role in cpu_after}
            print(
                f"    CPU seconds ({os.cpu_count()} cores x {seconds:.0f} s = "
                f"{os.cpu_count() * seconds:.0f} available): "
                + ", ".join(f"{role} {value:.0f}" for role, value in spent.items() if value >= 0.5)
            )
            peaks = {
                role: [round(peak_rss_mb(pid)) for pid in group if Path(f"/proc/{pid}").exists()]
                for role, group in pids.items()
            }
            print(
                "    peak RSS, MB (each process of the worker: the parent first): "
                + "; ".join(f"{role[:-1]} worker {peaks[role]}" for role in peaks)
                + f"; diff worker's largest {max(peaks['diff@'], default=0)} MB (target <= 1536)"
            )
            breakdown(api, keys, label)
            measured.append((label, seconds))
        stylesheet.write_text(original_css)
        uploaded_pair(api, keys, tool_env, scratch)
        plain.append(plain_loop_over(urls))
        loop = statistics.mean(plain)
        print(
            f"  plain loop again: {plain[1]:5.1f} s; mean {loop:5.1f} s, "
            f"{per_minute(loop, len(urls)):5.1f} pages/min"
        )
        for label, seconds in measured:
            ratio = per_minute(seconds, len(urls)) / per_minute(loop, len(urls))
            print(
                f"  {label}: {ratio:.2f}x the plain loop's pages/min "
                f"(target >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'})"
            )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--end-to-end-only", action="store_true", help="skip the engine against the plain loop"
    )
    if not parser.parse_args().end_to_end_only:
        engine_against_plain()
    end_to_end()
