"""Run the local tool's suites: start the setup script, wait for it, capture, compare.

No server and no Django: capture.browser takes the screenshots and pdiff.core compares them.
Output lines follow the original tool's (``NAME passed (no diff)``, ``NAME failed``, the
distortion, ``Ref:``/``Run:``/``Diff:`` and the ``(all):`` line). Exit codes: 0 all passed,
1 differences, 2 errors (a setup that never became ready, a failed capture, a missing
reference image, a bad suite file).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fnmatch
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import requests
from tqdm import tqdm

from capture.browser import Browser, CaptureError
from pdiff import core

from . import junit, pending, report
from .yamlconfig import Suite, Test

EXIT_PASSED, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2
STOP_GRACE_SECONDS = 5
SCRIPT_WAIT_SECONDS = 60


class SetupError(RuntimeError):
    pass


@dataclass
class Outcome:
    suite: str
    name: str
    result: str  # passed | updated | failed | error
    message: str = ""
    seconds: float = 0.0
    distortion: float | None = None
    log: dict | None = None  # the diff result, for the HTML report
    images: dict = field(default_factory=dict)  # before/after/diff/aligned PNG bytes, if changed


@dataclass
class Options:
    mode: str  # update | test
    directory: Path
    output_dir: Path | None = None
    test_filter: str = ""
    threshold: float = core.DEFAULT_THRESHOLD
    chromium: str | None = None
    parallel: int = 2  # captures in flight at once (the engine's lanes)
    junit: Path | None = None
    # Branches (README "Branches"): references of a branch other than the main one live in
    # SUITE_DIR/branches/BRANCH/; a test compares with its branch's, else its base branch's,
    # else the main line's (SUITE_DIR/NAME.png). Empty: the main line, as before.
    branch: str = ""
    base_branch: str = ""
    main_branch: str = "main"
    report: Path | None = None  # write the HTML report here
    open_report: bool = False
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    outcomes: list[Outcome] = field(default_factory=list)


def matches(name: str, test_filter: str) -> bool:
    """gtest-style filter: ``pos1:pos2-neg1:neg2`` with glob patterns."""
    if not test_filter:
        return True
    positive, _, negative = test_filter.partition("-")
    positives = [p for p in positive.split(":") if p] or ["*"]
    negatives = [n for n in negative.split(":") if n]
    return any(fnmatch.fnmatchcase(name, p) for p in positives) and not any(
        fnmatch.fnmatchcase(name, n) for n in negatives
    )


def list_tests(suites: list[Suite], options: Options) -> None:
    for suite in suites:
        print(f"{suite.path.name}:", file=options.out)
        for test in suite.tests:
            if matches(test.name, options.test_filter):
                print(f"  {test.name}", file=options.out)


def run(suites: list[Suite], options: Options) -> int:
    if options.mode == "test":  # what this run finds changed is what `dpxdt review` offers
        pending.Store(options.directory).reset()
    selected = [
        (suite, [t for t in suite.tests if matches(t.name, options.test_filter)])
        for suite in suites
    ]
    total = sum(len(tests) for _, tests in selected)
    browser = None
    try:
        with tqdm(
            total=total, desc=options.mode, unit="test", file=options.err, disable=None, leave=False
        ) as progress:
            for suite, tests in selected:
                if not tests:
                    continue
                if browser is None:
                    browser = Browser(options.chromium, lanes=options.parallel)
                _run_suite(suite, tests, browser, options, progress)
    finally:
        if browser is not None:
            browser.close()
    return _finish(options)


def _run_suite(suite, tests, browser, options, progress):
    logs = Path(tempfile.mkdtemp(prefix="dpxdt-setup-"))
    try:
        with _setup_process(suite, logs, options):
            _wait_for(suite, options)
            # Captures run ahead, as many at once as the browser has lanes; each test's
            # outcome is reported in order, as its capture comes back.
            with concurrent.futures.ThreadPoolExecutor(browser.lanes) as pool:
                captures = [
                    pool.submit(_capture, browser, test, options)
                    if _reference_ready(suite, test, options)
                    else None
                    for test in tests
                ]
                try:
                    for test, captured in zip(tests, captures, strict=True):
                        _run_test(suite, test, captured, options)
                        progress.update(1)
                finally:
                    for captured in captures:
                        if captured is not None:
                            captured.cancel()
    except SetupError as exc:
        print(f"{suite.path.name}: {exc}", file=options.err)
        for test in tests:
            options.outcomes.append(Outcome(suite.path.name, test.name, "error", str(exc)))
            progress.update(1)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


@contextlib.contextmanager
def _setup_process(suite: Suite, logs: Path, options: Options):
    """Run ``setup`` in its own process group, in the current directory (as the original did:
    the README's demo serves files next to the tests folder); stop the whole group (TERM, then
    KILL) when the suite is done, whatever happened."""
    if not suite.setup:
        yield None
        return
    script = logs / "setup.sh"
    script.write_text(suite.setup)
    log_path = logs / "setup.log"
    print("Running setup step", file=options.out)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", str(script)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _stop_group(process)
        if process.returncode not in (0, None, -signal.SIGTERM, -signal.SIGKILL):
            tail = log_path.read_text(errors="replace")[-2000:]
            print(f"setup exited with {process.returncode}; its output:\n{tail}", file=options.err)


def _stop_group(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None and not _group_alive(process.pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + STOP_GRACE_SECONDS  # until the killed members are reaped
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_alive(pgid) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _wait_for(suite: Suite, options: Options):
    if suite.wait_url:
        deadline = time.monotonic() + suite.wait_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = requests.get(suite.wait_url, timeout=2, stream=True)
                response.close()
                if response.status_code == 200:
                    print(
                        f"Request for {suite.wait_url} succeeded, continuing with tests...",
                        file=options.out,
                    )
                    return
                last = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.5)
        raise SetupError(
            f"Timed out on waitFor step: {suite.wait_url} did not answer 200 "
            f"within {suite.wait_timeout:g} s (last: {last})"
        )
    if suite.wait_script:
        try:
            result = subprocess.run(
                ["bash", "-c", suite.wait_script],
                capture_output=True,
                text=True,
                timeout=SCRIPT_WAIT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise SetupError(
                f"Timed out on waitFor step: the script ran over {SCRIPT_WAIT_SECONDS} s"
            ) from None
        if result.returncode != 0:
            raise SetupError(
                f"waitFor script failed with exit {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-500:]}"
            )


def _reference(suite: Suite, test: Test, options: Options) -> Path:
    """Where the test's reference is written (update, and an accepted review): its branch's."""
    return _branch_reference(suite, test, options.branch, options.main_branch)


def _compared_reference(suite: Suite, test: Test, options: Options) -> Path:
    """The reference a test compares with: its branch's, else its base branch's, else the
    main line's (the last of these when none exists, for the error that says so)."""
    candidates = [
        _branch_reference(suite, test, branch, options.main_branch)
        for branch in (options.branch, options.base_branch, options.main_branch)
    ]
    return next((path for path in candidates if path.exists()), candidates[-1])


def _branch_reference(suite: Suite, test: Test, branch: str, main_branch: str) -> Path:
    if not branch or branch == main_branch:
        return suite.path.parent / f"{test.name}.png"
    return suite.path.parent / "branches" / branch / f"{test.name}.png"


def _reference_ready(suite: Suite, test: Test, options: Options) -> bool:
    """Whether the test has what its capture is for: in test mode, its reference image."""
    return options.mode == "update" or _compared_reference(suite, test, options).exists()


def _capture(browser: Browser, test: Test, options: Options):
    arm = test.ref if options.mode == "update" else test.run
    return browser.capture(arm.config)


def _run_test(suite: Suite, test: Test, captured, options: Options):
    """Report one test; ``captured`` is the future of its capture (None: not captured, as
    its reference image is missing)."""
    started, capture_seconds = time.monotonic(), 0.0
    outcome = Outcome(suite.path.name, test.name, "error")
    options.outcomes.append(outcome)
    print(f"{test.name}: Running webpage capture process", file=options.out)
    reference = (
        _reference(suite, test, options)
        if options.mode == "update"
        else _compared_reference(suite, test, options)
    )
    try:
        if captured is None:
            raise FileNotFoundError(
                f"Reference image {reference} does not exist. Try running in update mode."
            )
        try:
            result = captured.result()
        except CaptureError as exc:
            raise RuntimeError(f"capture failed: {exc.reason}") from None
        capture_seconds = result.seconds
        if options.mode == "update":
            reference.parent.mkdir(parents=True, exist_ok=True)
            reference.write_bytes(result.png)
            layout = pending.layout_of(reference)
            if result.layout:
                layout.write_bytes(result.layout)
            elif layout.exists():
                layout.unlink()  # a map of another screenshot would name wrong causes
            print(f"{test.name}: Updated {reference}", file=options.out)
            outcome.result = "updated"
        else:
            _compare(suite, test, reference, result, outcome, options)
    except (OSError, RuntimeError, core.ImageDecodeError) as exc:
        outcome.message = str(exc)
        print(f"{test.name}: error: {exc}", file=options.out)
    finally:
        outcome.seconds = capture_seconds + time.monotonic() - started


def _compare(suite, test, reference, captured, outcome, options):
    print(f"{test.name}: Running perceptual diff process", file=options.out)
    config = test.run.config
    threshold = config.diffThreshold
    ref = reference.read_bytes()
    png = captured.png
    ref_layout = pending.layout_of(reference)
    result = core.compare(
        ref,
        png,
        threshold=options.threshold if threshold is None else threshold,
        metric=config.diffMetric or core.DEFAULT_METRIC,
        before_layout=ref_layout.read_bytes() if ref_layout.exists() else None,
        after_layout=captured.layout,
    )
    outcome.distortion = result.distortion
    if result.within(config.maxDistortion or 0):
        outcome.result = "passed"
        print(f"{test.name} passed (no diff)", file=options.out)
        if options.output_dir:
            _write_triplet(options.output_dir / test.name, ref, png, None)
        return
    outcome.log = result.as_dict()
    pending.Store(options.directory).add(
        pending.Changed(
            pending.slug_of(outcome.suite, test.name),
            outcome.suite,
            test.name,
            _reference(suite, test, options),  # accepting writes the branch's own
            "; ".join(result.summary_lines),
            outcome.log,
        ),
        png,
        captured.layout,
        {
            side: data
            for side, data in (
                ("before", ref),
                ("diff", result.diff_png),
                ("aligned", result.aligned_diff_png),
            )
            if data
        },
    )
    if options.report:
        outcome.images = {
            side: data
            for side, data in (
                ("before", ref),
                ("after", png),
                ("diff", result.diff_png),
                ("aligned", result.aligned_diff_png),
            )
            if data
        }
    _report_failure(test, outcome, options, ref, png, result)


def _report_failure(test, outcome, options, ref: bytes, png: bytes, result) -> None:
    """A test that changed: its images written out, its causes and figures printed."""
    folder = (
        options.output_dir / test.name
        if options.output_dir
        else Path(tempfile.mkdtemp(prefix=f"dpxdt-{test.name}-"))
    )
    paths = _write_triplet(folder, ref, png, result.diff_png)
    outcome.result = "failed"
    size = (
        f", size {result.before_size[0]}x{result.before_size[1]} → "
        f"{result.after_size[0]}x{result.after_size[1]}"
        if result.size_changed
        else ""
    )
    lines = result.summary_lines
    outcome.message = "; ".join(lines)
    print(f"{test.name} failed", file=options.out)
    for line in lines:
        print(f"  {line}", file=options.out)
    if result.changed_pixels:
        print(
            f"  {result.distortion:.7g} distortion ({result.changed_pixels} changed pixels{size})",
            file=options.out,
        )
    else:
        print(f"  every changed pixel is under the colour threshold{size}", file=options.out)
    print(f"  Ref:  {paths['ref']}", file=options.out)
    print(f"  Run:  {paths['run']}", file=options.out)
    print(f"  Diff: {paths['diff']}", file=options.out)
    print(f" (all):     {folder}/{{ref.png,run.png,diff.png}}", file=options.out)


def _write_triplet(folder: Path, ref: bytes, run: bytes, diff: bytes | None) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"ref": folder / "ref.png", "run": folder / "run.png", "diff": folder / "diff.png"}
    paths["ref"].write_bytes(ref)
    paths["run"].write_bytes(run)
    if diff is not None:
        paths["diff"].write_bytes(diff)
    return paths


def _finish(options: Options) -> int:
    outcomes = options.outcomes
    if options.junit:
        write_junit(outcomes, options.junit)
    if options.report:
        index = report.write(
            options.report,
            [report.Entry(o.suite, o.name, o.result, o.message, o.log, o.images) for o in outcomes],
            title=f"dpxdt {options.mode} {options.directory}",
        )
        print(f"Report: {index}", file=options.out)
        if options.open_report:
            webbrowser.open(index.resolve().as_uri())
    failed = [o for o in outcomes if o.result == "failed"]
    errors = [o for o in outcomes if o.result == "error"]
    if errors:
        print(f"{len(errors)} test(s) could not run.", file=options.err)
    if failed:
        print(f"{len(failed)} test(s) failed.", file=options.err)
    if not errors and not failed:
        print(
            "All tests passed!"
            if options.mode == "test"
            else f"Updated {len(outcomes)} reference image(s).",
            file=options.out,
        )
    return EXIT_ERROR if errors else EXIT_DIFFERENCES if failed else EXIT_PASSED


def write_junit(outcomes: list[Outcome], path: Path) -> None:
    """One testsuite per YAML file, one testcase per test."""
    suites: dict[str, list[junit.Case]] = {}
    for outcome in outcomes:
        suites.setdefault(outcome.suite, []).append(
            junit.Case(
                outcome.name,
                outcome.suite,
                outcome.seconds,
                failure=outcome.message if outcome.result == "failed" else None,
                error=outcome.message if outcome.result == "error" else None,
            )
        )
    junit.write(path, suites, name="dpxdt")
