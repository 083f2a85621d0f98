"""make bench: captures per minute on this machine, Depicted's engine against the original's
architecture (a new browser for every capture) and the naive isolation (a new browser context
for every capture), on the same local pages served from 127.0.0.1.

Depicted's engine isolates captures without a new context each: a fresh page (prepared during
the previous capture) in a shared context, HTTP cache off, cookies and all storage of every
origin touched cleared afterwards (capture/browser.py).
"""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from capture import config as capture_config  # noqa: E402
from capture.browser import CHROMIUM_ARGS, Browser, find_chromium  # noqa: E402
from tests.bench.bench_site_diff import free_port, start_site, wait_port  # noqa: E402

STYLE = (
    "<style>body{font-family:'DejaVu Sans',sans-serif;margin:40px;color:#223}"
    "nav a{margin-right:16px}.card{border:1px solid #ccd;border-radius:8px;padding:16px;"
    "margin:16px 0;background:#f7f9fc}</style>"
)


def article(sections: int) -> str:
    body = "".join(
        f"<div class='card'><h2>Section {i}</h2><p>The quick brown fox jumps over the lazy dog. "
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>"
        f"<img src='/logo.svg' width='48' height='48'> <a href='/page/{i}'>Read more</a></div>"
        for i in range(sections)
    )
    return (
        f"<html><head>{STYLE}<link rel='stylesheet' href='/extra.css'></head><body>"
        f"<nav><a href='/'>Home</a><a href='/docs'>Docs</a></nav>{body}</body></html>"
    )


LOGO = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'><circle cx='5' cy='5' "
    "r='4' fill='#36c'/></svg>"
)


def rate(label, capture_once, count):
    capture_once()  # warm-up
    started = time.perf_counter()
    for _ in range(count):
        capture_once()
    seconds = (time.perf_counter() - started) / count
    print(f"  {label:48s} {seconds * 1000:7.0f} ms/capture  {60 / seconds:6.0f} /min")
    return 60 / seconds


def serve_pages():
    """The pages from a separate server process (so that it does not share this process's
    interpreter with the engine's event loop, as a real site would not)."""
    folder = Path(tempfile.mkdtemp(prefix="dpxdt-bench-pages-"))
    (folder / "logo.svg").write_text(LOGO)
    (folder / "extra.css").write_text(".card h2{color:#345}")
    (folder / "short.html").write_text(article(3))
    (folder / "long.html").write_text(article(14))
    port = free_port()
    server = start_site(folder, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return server, f"http://127.0.0.1:{port}", folder


def main():
    server, base, folder = serve_pages()
    pages = {
        "viewport 1280x800": (f"{base}/short.html", False),
        "full page 1280x~2900": (f"{base}/long.html", True),
    }
    chromium = find_chromium()
    results = {}
    try:
        for label, (url, full) in pages.items():
            print(f"\n== {label} ==")
            results[(label, "depicted")] = engine_rate(
                "Depicted engine, one worker process", chromium, url, full, 1, 40
            )
            results[(label, "depicted x2")] = engine_rate(
                "Depicted engine, two worker processes", chromium, url, full, 2, 30
            )
        _playwright_rates(chromium, pages, results)
    finally:
        server.terminate()
        shutil.rmtree(folder, ignore_errors=True)
    print()
    for label in pages:
        ours, two = results[(label, "depicted")], results[(label, "depicted x2")]
        print(
            f"== {label}: Depicted {ours:.0f}/min per process, {two:.0f}/min with two "
            f"processes on this host; one process is {ours / results[(label, 'browser')]:.1f}x "
            f"the original's architecture and {ours / results[(label, 'context')]:.1f}x a new "
            "context per capture"
        )
    return results


def _engine_worker(chromium, url, full, count, ready, start, done):
    engine = Browser(chromium)
    config = capture_config.parse(
        {"viewportSize": {"width": 1280, "height": 800}, "fullPage": full}
    ).with_target(url)
    try:
        for _ in range(3):  # warm-up
            engine.capture(config)
        ready.release()
        start.wait()
        for _ in range(count):
            engine.capture(config)
    finally:
        done.release()
        engine.close()


def engine_rate(label, chromium, url, full, processes, count):
    """Captures per minute of ``processes`` engines in separate processes (as
    ``celery -Q capture -c N`` runs them), measured from a common start."""
    context = multiprocessing.get_context("spawn")
    ready, done, start = context.Semaphore(0), context.Semaphore(0), context.Event()
    workers = [
        context.Process(
            target=_engine_worker, args=(chromium, url, full, count, ready, start, done)
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    started = time.perf_counter()
    start.set()
    for _ in workers:
        done.acquire()
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join()
    per_minute = processes * count * 60 / seconds
    print(f"  {label:48s} {seconds * 1000 / count:7.0f} ms/capture  {per_minute:6.0f} /min")
    return per_minute


def _playwright_rates(chromium, pages, results):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:

        def launch():
            options = {"args": CHROMIUM_ARGS}
            if chromium:
                options["executable_path"] = chromium
            return playwright.chromium.launch(**options)

        shared = launch()
        for label, (url, full) in pages.items():
            print(f"\n== {label}, for comparison ==")

            def new_context(url=url, full=full):
                context = shared.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(url, wait_until="load")
                page.screenshot(full_page=full)
                context.close()

            def new_browser(url=url, full=full):
                browser = launch()
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url, wait_until="load")
                page.screenshot(full_page=full)
                browser.close()

            results[(label, "context")] = rate(
                "new context per capture (Playwright)", new_context, 15
            )
            results[(label, "browser")] = rate(
                "new browser per capture (dpxdt's architecture)", new_browser, 8
            )
        shared.close()


if __name__ == "__main__":
    main()
