"""The local tool's YAML suites (the reference README's "Local Depicted" format).

Every ``*.yaml`` directly in a directory is a suite::

    setup: |                 # optional: a bash script, typically starting a server
        python3 -m http.server
    waitFor:                 # optional: {url, timeout_secs} or a bash script
        url: http://localhost:8000/demo.html
        timeout_secs: 5
    tests:
      - name: demo           # the reference image is DIR/demo.png
        url: http://localhost:8000/demo.html
        config: {}           # capture config (see capture/config.py)
      - name: two-arms       # or: ref: {url, config} for update, run: {url, config} for test
        ref: {url: ..., config: ...}
        run: {url: ..., config: ...}

Other top-level keys are ignored, so they can hold YAML anchors to share configs (``&std``,
``*std``, ``<<: *std``). Only yaml.safe_load is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from capture import config as capture_config

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the file and the place."""


@dataclass(frozen=True)
class Arm:
    url: str
    config: capture_config.CaptureConfig


@dataclass(frozen=True)
class Test:
    name: str
    ref: Arm  # captured by ``update``
    run: Arm  # captured by ``test``


@dataclass
class Suite:
    path: Path
    setup: str | None = None
    wait_url: str | None = None
    wait_script: str | None = None
    wait_timeout: float = 10.0
    tests: list[Test] = field(default_factory=list)


def load_dir(directory: Path) -> list[Suite]:
    directory = Path(directory)
    if not directory.is_dir():
        raise SuiteError(f"{directory} is not a directory")
    suites = [load_file(path) for path in sorted(directory.glob("*.yaml"))]
    if not suites:
        raise SuiteError(f"no *.yaml files in {directory}")
    names: dict[str, str] = {}
    for suite in suites:
        for test in suite.tests:
            if test.name in names:
                raise SuiteError(
                    f"{suite.path.name}: test name {test.name!r} is also used in "
                    f"{names[test.name]} (names are file names in one directory)"
                )
            names[test.name] = suite.path.name
    return suites


def load_file(path: Path) -> Suite:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{path.name}: the top level must be a mapping")
    suite = Suite(path=path)
    setup = data.get("setup")
    if setup is not None and not isinstance(setup, str):
        raise SuiteError(f"{path.name}: setup must be a bash script (a string)")
    suite.setup = setup
    wait = data.get("waitFor")
    if isinstance(wait, str):
        suite.wait_script = wait
    elif isinstance(wait, dict):
        unknown = set(wait) - {"url", "timeout_secs"}
        if unknown or not isinstance(wait.get("url"), str):
            raise SuiteError(f"{path.name}: waitFor must be {{url, timeout_secs}} or a script")
        suite.wait_url = wait["url"]
        timeout = wait.get("timeout_secs", 10)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise SuiteError(f"{path.name}: waitFor.timeout_secs must be a positive number")
        suite.wait_timeout = float(timeout)
    elif wait is not None:
        raise SuiteError(f"{path.name}: waitFor must be {{url, timeout_secs}} or a script")
    tests = data.get("tests")
    if not isinstance(tests, list) or not tests:
        raise SuiteError(f"{path.name}: tests must be a non-empty list")
    suite.tests = [_test(path.name, index, item) for index, item in enumerate(tests)]
    return suite


def _test(filename, index, item) -> Test:
    where = f"{filename}: tests[{index}]"
    if not isinstance(item, dict):
        raise SuiteError(f"{where} must be a mapping")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise SuiteError(f"{where}: name must be a file-name-safe string, not {name!r}")
    where = f"{filename}: test {name!r}"
    if "ref" in item or "run" in item:
        unknown = set(item) - {"name", "ref", "run"}
        if unknown or not ("ref" in item and "run" in item):
            raise SuiteError(f"{where}: the two-arm form takes exactly name, ref and run")
        return Test(name, _arm(f"{where} ref", item["ref"]), _arm(f"{where} run", item["run"]))
    unknown = set(item) - {"name", "url", "config"}
    if unknown:
        raise SuiteError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    arm = _arm(where, item)
    return Test(name, arm, arm)


def _arm(where, item) -> Arm:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        raise SuiteError(f"{where}: url is required")
    try:
        config = capture_config.parse(item.get("config") or {}).with_target(item["url"])
    except capture_config.ConfigError as exc:
        raise SuiteError(f"{where}: {exc}") from None
    return Arm(item["url"], config)
