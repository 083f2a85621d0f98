"""make bench: pdiff/core.py against odiff, pixelmatch and the original's ImageMagick method.

Screenshot pairs are made by Chromium from local pages (a 1280x800 viewport and a full page of
about 1280x8000), each pair differing by one word. Every tool gets the same PNG files:

* pdiff/core.py: ``compare()`` in this warm process with everything on (decode both in
  stripes, OKLab compare, subtle regions, row alignment, encode the diff);
* odiff (npm odiff-bin, native): one process per pair, writing its diff image;
* pixelmatch (npm): one node process per pair (PNG decode with pngjs + pixelmatch);
* ImageMagick as dpxdt ran it: ``composite`` to align sizes, then ``compare -metric RMSE``.

Prints the median of several runs for each, the ratios, and where pdiff's time goes.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from pdiff import core  # noqa: E402
from tests.processes import PLAIN_CHROMIUM_ARGS  # noqa: E402

TOOLS = ROOT / "tests" / "tools"
CHROMIUM = "/usr/bin/chromium"
REPEAT = 7
REFLOWED = "docs page, text reflowed (datetime.html, p { letter-spacing: 0.6px })"
# What compare() (warm) may take against odiff's whole process on the same files.
TARGETS = {"full page": 0.8, REFLOWED: 1.0}


def page(word: str, sections: int) -> str:
    parts = [
        "<html><head><style>body{font-family:'DejaVu Sans',sans-serif;margin:40px}"
        "h2{color:#234}p{line-height:1.5}.box{background:#e8f0fe;padding:12px;"
        "border-radius:6px}</style></head><body>"
    ]
    for i in range(sections):
        changed = word if i == sections // 2 else "quick"
        parts.append(
            f"<h2>Section {i}</h2><p>The {changed} brown fox jumps over the lazy dog. "
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
            f"tempor incididunt ut labore.</p><div class='box'>Item {i}: <b>bold</b> "
            "<i>italic</i> <a href='#'>link</a></div>"
        )
    return "".join(parts) + "</body></html>"


def make_pairs(workdir: Path) -> dict[str, tuple[Path, Path]]:
    from playwright.sync_api import sync_playwright

    pairs = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=PLAIN_CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        for label, sections, full_page in (
            ("viewport 1280x800", 8, False),
            ("full page", 46, True),
        ):
            files = []
            for side, word in (("before", "quick"), ("after", "slow")):
                tab.set_content(page(word, sections))
                path = workdir / f"{label.split()[0]}-{side}.png"
                path.write_bytes(tab.screenshot(full_page=full_page))
                files.append(path)
            width, height = Image.open(files[0]).size
            pairs[f"{label} ({width}x{height})"] = (files[0], files[1])
        # Real docs pages: one sentence cut (content below moves up: shifts, aligned), and the
        # expensive pair: every paragraph's letter-spacing changed, the text reflows and the page
        # grows (rows no longer align), as Playwright screenshots them.
        try:
            from tests import pythondoc

            edits = [
                ("docs page, content moved (heapq.html)", pythondoc.heapq_edit(workdir / "docs")),
                (REFLOWED, pythondoc.letter_spacing_edit(workdir / "docs")),
            ]
        except (ImportError, OSError, RuntimeError) as exc:
            print(f"note: no docs pairs ({exc}); install python3.11-doc")
            edits = []
        for label, paths in edits:
            server, base = pythondoc.serve(workdir / "docs")
            files = []
            for path in paths:
                tab.goto(f"{base}/{path}")
                files.append(workdir / Path(path).with_suffix(".png").name)
                files[-1].write_bytes(tab.screenshot(full_page=True))
            server.shutdown()
            pairs[label] = (files[0], files[1])
        browser.close()
    return pairs


def median_ms(action, repeat=REPEAT) -> float:
    action()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(command):
    return lambda: subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tools(before: Path, after: Path, workdir: Path, imagemagick: bool = True) -> dict:
    before_bytes, after_bytes = before.read_bytes(), after.read_bytes()
    entries = {"pdiff/core.py (warm)": lambda: core.compare(before_bytes, after_bytes)}
    odiff = TOOLS / "node_modules" / ".bin" / "odiff"
    if odiff.exists():
        entries["odiff (process)"] = run(
            [str(odiff), str(before), str(after), str(workdir / "odiff.png"), "--antialiasing"]
        )
    same_size = Image.open(before).size == Image.open(after).size  # pixelmatch needs that
    if same_size and shutil.which("node") and (TOOLS / "node_modules" / "pixelmatch").exists():
        entries["pixelmatch (node process)"] = run(
            ["node", str(TOOLS / "pixelmatch_count.mjs"), str(before), str(after)]
        )
    if imagemagick and shutil.which("compare") and shutil.which("composite"):
        resized = workdir / "ref_resized.png"

        def imagemagick():
            subprocess.run(
                [
                    "composite",
                    "-compose",
                    "src",
                    "-gravity",
                    "NorthWest",
                    str(before),
                    str(after),
                    str(resized),
                ],
                check=True,
            )
            subprocess.run(
                [
                    "compare",
                    "-verbose",
                    "-metric",
                    "RMSE",
                    "-highlight-color",
                    "Red",
                    "-compose",
                    "Src",
                    str(resized),
                    str(after),
                    str(workdir / "im-diff.png"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        entries["ImageMagick (dpxdt's method)"] = imagemagick
    return entries


def _one_core(action):
    """``action`` with pdiff's work on the calling thread alone (what a busy host gives)."""
    from pdiff import parallel

    def alone():
        threads = parallel.threads
        parallel.threads = lambda: 1
        try:
            action()
        finally:
            parallel.threads = threads

    return alone


def breakdown(before: Path, after: Path) -> dict:
    """compare() with its parts switched on one by one (each row includes the ones above)."""
    from pdiff.pngio import PngRows

    before_bytes, after_bytes = before.read_bytes(), after.read_bytes()

    def decode_both():
        for data in (before_bytes, after_bytes):
            rows = PngRows(data, "image")
            for _ in rows.stripes(core.STRIPE_PIXELS // rows.width):
                pass

    def variant(**options):
        return lambda: core.compare(before_bytes, after_bytes, **options)

    bare = dict(subtle=False, align=False, make_diff_png=False)
    return {
        "decode both (as compare() reads them)": median_ms(decode_both),
        "+ compare, YIQ (pixelmatch 7.2.0)": median_ms(variant(metric="yiq", **bare)),
        "+ compare, OKLab (pixelmatch main)": median_ms(variant(**bare)),
        "+ diff PNG encode": median_ms(variant(subtle=False, align=False)),
        "+ subtle regions": median_ms(variant(align=False)),
        "+ row alignment (all on: the default)": median_ms(variant()),
        "the same on one core": median_ms(_one_core(variant())),
    }


def main():
    missing = [
        name
        for name, ok in (
            (
                "odiff/pixelmatch (npm install --prefix tests/tools)",
                (TOOLS / "node_modules").exists(),
            ),
            ("ImageMagick (apt-get install imagemagick)", shutil.which("compare")),
        )
        if not ok
    ]
    for name in missing:
        print(f"note: {name} is not installed; its row is left out")
    with tempfile.TemporaryDirectory(prefix="dpxdt-bench-") as tmp:
        workdir = Path(tmp)
        for label, (before, after) in make_pairs(workdir).items():
            result = core.compare(before, after)
            print(
                f"\n== {label}: {result.changed_pixels} changed pixels "
                f"({result.metric}; {result.summary}) =="
            )
            big = label == REFLOWED  # over ImageMagick's default pixel limit; long to repeat
            timings = {
                name: median_ms(action, 3 if big else REPEAT)
                for name, action in tools(before, after, workdir, imagemagick=not big).items()
            }
            ours = timings["pdiff/core.py (warm)"]
            for name, ms in timings.items():
                ratio = "" if name.startswith("pdiff") else f"   pdiff is {ms / ours:5.1f}x faster"
                print(f"  {name:32s} {ms:8.1f} ms{ratio}")
            target = next((t for key, t in TARGETS.items() if label.startswith(key)), None)
            if target is not None and "odiff (process)" in timings:
                share = ours / timings["odiff (process)"]
                print(
                    f"  pdiff takes {share:.2f}x odiff's time "
                    f"(target <= {target}: {'met' if share <= target else 'MISSED'})"
                )
            if label == REFLOWED:
                pair = before.read_bytes(), after.read_bytes()
                unaligned = median_ms(lambda pair=pair: core.compare(*pair, align=False), 3)
                print(
                    f"  the alignment's bound: {ours:.0f} ms with it, {unaligned:.0f} ms without "
                    f"({ours / unaligned:.2f}x); reflowed below y={result.reflowed_below}"
                )
            if big:
                continue
            print("  where pdiff's time goes:")
            for name, ms in breakdown(before, after).items():
                print(f"    {name:36s} {ms:8.1f} ms")


if __name__ == "__main__":
    main()
