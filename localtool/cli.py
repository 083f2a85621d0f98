"""The ``dpxdt`` command (also ``manage.py dpxdt_local``): the local tool.

    dpxdt update DIR    capture every test of DIR/*.yaml into DIR/NAME.png
    dpxdt test DIR      capture again and compare with DIR/NAME.png

Exit codes: 0 all passed, 1 differences found, 2 errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pdiff import core

from . import runner, yamlconfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpxdt", description="Depicted: perceptual diffs of web pages.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[1])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mode, summary in (("update", "capture the reference images"),
                          ("test", "capture and compare with the reference images")):
        command = commands.add_parser(mode, help=summary, description=summary)
        command.add_argument("directory", type=Path, metavar="DIR",
                             help="directory holding the *.yaml suites and the NAME.png files")
        command.add_argument("--test-filter", "--test_filter", default="", metavar="FILTER",
                             help="gtest-style filter: 'pos*:pos2-neg*' (globs)")
        command.add_argument("--list-tests", "--list_tests", action="store_true",
                             help="list the tests and run nothing")
        command.add_argument("--output-dir", "--output_dir", type=Path, metavar="DIR",
                             help="write ref.png / run.png / diff.png per test here "
                                  "(default: a temporary folder for failing tests only)")
        command.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
        command.add_argument("--threshold", type=float, default=core.DEFAULT_THRESHOLD,
                             help="diff colour threshold 0..1 (default %(default)s)")
        command.add_argument("--chromium", default=os.environ.get("DPXDT_CHROMIUM") or None,
                             help="Chromium binary (default: $DPXDT_CHROMIUM, /usr/bin/chromium)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.threshold <= 1:
        parser.error("--threshold must be between 0 and 1")
    try:
        suites = yamlconfig.load_dir(args.directory)
    except yamlconfig.SuiteError as exc:
        print(f"dpxdt: {exc}", file=sys.stderr)
        return runner.EXIT_ERROR
    options = runner.Options(mode=args.command, directory=args.directory,
                             output_dir=args.output_dir, test_filter=args.test_filter,
                             threshold=args.threshold, chromium=args.chromium, junit=args.junit)
    if args.list_tests:
        runner.list_tests(suites, options)
        return runner.EXIT_PASSED
    try:
        return runner.run(suites, options)
    except FileNotFoundError as exc:  # no Chromium
        print(f"dpxdt: {exc}", file=sys.stderr)
        return runner.EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
