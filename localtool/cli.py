"""The ``dpxdt`` command: the local tool and the CI tools.

    dpxdt update DIR                 capture every test of DIR/*.yaml into DIR/NAME.png
    dpxdt test DIR                   capture again and compare with DIR/NAME.png
                                     (--report OUT: an HTML report; --open: open it)
    dpxdt review DIR                 accept (or undo) what the last test found changed,
                                     in a browser, on 127.0.0.1
    dpxdt site-diff URL              crawl a site and capture every page on a server
    dpxdt pair-diff BEFORE AFTER     capture two URLs on a server and compare them
    dpxdt diff-images --tests_json_path F   upload screenshots made elsewhere
    dpxdt diff-urls --tests_json_path F     capture a list of URLs (JSON or YAML)

Exit codes: 0 all passed / nothing changed, 1 differences found, 2 errors or failed runs.
Every option of the server tools can also come from the environment: --release_client_secret
from DPXDT_RELEASE_CLIENT_SECRET, and so on (DPXDT_ + the option's name in capitals).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pdiff import core

from . import runner, tools, yamlconfig
from .client import ApiError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpxdt",
        description="Depicted: perceptual diffs of web pages.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mode, summary in (
        ("update", "capture the reference images"),
        ("test", "capture and compare with the reference images"),
    ):
        _local_arguments(commands.add_parser(mode, help=summary, description=summary))
    review = commands.add_parser(
        "review",
        help="accept the changes the last `dpxdt test DIR` found, in a browser",
        description="Serve the last `dpxdt test DIR`'s changes on 127.0.0.1 with Accept, "
        "Accept all and Undo; accepting writes the new reference image. Ctrl-C stops.",
    )
    review.add_argument("directory", type=Path, metavar="DIR")
    review.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)"
    )
    review.add_argument(
        "--open", dest="open_report", action="store_true", help="open it in a browser"
    )
    _server_tools(commands)
    return parser


def _local_arguments(command: argparse.ArgumentParser) -> None:
    """The arguments of ``update`` and ``test``."""
    command.add_argument(
        "directory",
        type=Path,
        metavar="DIR",
        help="directory holding the *.yaml suites and the NAME.png files",
    )
    command.add_argument(
        "--test-filter",
        "--test_filter",
        default="",
        metavar="FILTER",
        help="gtest-style filter: 'pos*:pos2-neg*' (globs)",
    )
    command.add_argument(
        "--list-tests",
        "--list_tests",
        action="store_true",
        help="list the tests and run nothing",
    )
    command.add_argument(
        "--output-dir",
        "--output_dir",
        type=Path,
        metavar="DIR",
        help="write ref.png / run.png / diff.png per test here "
        "(default: a temporary folder for failing tests only)",
    )
    command.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    command.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write an HTML report here: every test, and the review UI's "
        "views (side by side, overlay, diff, aligned) of each changed "
        "one (default with --open: DIR/report)",
    )
    command.add_argument(
        "--open",
        dest="open_report",
        action="store_true",
        help="open the HTML report in a browser when done",
    )
    command.add_argument(
        "--branch",
        default="",
        help="keep this branch's references apart (DIR/branches/BRANCH/NAME.png); a test "
        "compares with its branch's, else --base-branch's, else the main line's",
    )
    command.add_argument("--base-branch", default="", help="see --branch")
    command.add_argument(
        "--main-branch",
        default="main",
        help="the branch whose references are DIR/NAME.png (default %(default)s)",
    )
    command.add_argument(
        "--threshold",
        type=float,
        default=core.DEFAULT_THRESHOLD,
        help="diff colour threshold 0..1 (default %(default)s)",
    )
    command.add_argument(
        "--chromium",
        default=os.environ.get("DPXDT_CHROMIUM") or None,
        help="Chromium binary (default: $DPXDT_CHROMIUM, /usr/bin/chromium-headless-shell, "
        "/usr/bin/chromium)",
    )
    command.add_argument(
        "--parallel",
        type=int,
        default=2,
        metavar="N",
        help="pages captured at once in the one Chromium (default %(default)s); "
        "results are reported in order",
    )


def _env(name, default=None, kind=str):
    value = os.environ.get(f"DPXDT_{name.upper()}")
    if not value:
        return default
    if kind is bool:
        return value.lower() in ("1", "true", "yes", "on")
    return kind(value)


def _option(parser, name, *, kind=str, default=None, help, **kwargs):
    """--name and --name-with-dashes, defaulting to $DPXDT_NAME."""
    flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    if kind is bool:
        parser.add_argument(
            *flags,
            dest=name,
            action="store_true",
            default=_env(name, default or False, bool),
            help=help,
        )
    else:
        parser.add_argument(
            *flags, dest=name, type=kind, default=_env(name, default, kind), help=help, **kwargs
        )


def _server_tools(commands):
    common = _server_options()
    site = commands.add_parser("site-diff", parents=[common], help="crawl a site and diff it")
    site.add_argument("start_url", metavar="URL")
    _option(
        site,
        "crawl_depth",
        kind=int,
        default=-1,
        help="links to follow from the start page; -1 (default) no limit",
    )
    _option(site, "ignore_prefixes", default="", help="space-separated URL prefixes to skip")
    _option(site, "keep_query_string", kind=bool, help="keep ?query in URLs and run names")
    site.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="REGEX",
        help="crawl only URLs matching one of these (repeatable)",
    )
    site.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="REGEX",
        help="skip URLs matching any of these (repeatable)",
    )
    _option(site, "max_pages", kind=int, default=1000, help="stop after this many pages")
    _option(site, "sitemap", help="also start from the pages of this sitemap.xml")
    _option(site, "crawl_concurrency", kind=int, default=4, help="parallel fetches (default 4)")
    _option(
        site,
        "crawl_rate",
        kind=float,
        default=10.0,
        help="politeness: at most this many requests per second (default 10)",
    )
    site.set_defaults(tool=tools.site_diff)

    pair = commands.add_parser("pair-diff", parents=[common], help="diff two live URLs")
    pair.add_argument("before_url", metavar="BEFORE")
    pair.add_argument("after_url", metavar="AFTER")
    pair.set_defaults(tool=tools.pair_diff)

    for name, tool, summary in (
        (
            "diff-images",
            tools.diff_images,
            "upload screenshots made elsewhere and diff them "
            "against the last good run of the same name",
        ),
        ("diff-urls", tools.diff_urls, "capture a list of URLs (and references)"),
    ):
        command = commands.add_parser(name, parents=[common], help=summary)
        _option(command, "tests_json_path", help="the JSON (or YAML) list of tests")
        command.set_defaults(tool=tool)


def _server_options() -> argparse.ArgumentParser:
    """The options every server tool takes: the server and release, the branch, the capture
    and the gating."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server and release")
    _option(group, "release_server_prefix", help="the server's API, e.g. https://depicted/api")
    _option(group, "release_client_id", help="API key id")
    _option(group, "release_client_secret", help="API key secret (prefer the environment)")
    _option(group, "upload_build_id", kind=int, help="the build (project) id")
    _option(group, "upload_release_name", help="release name (default: the current UTC time)")
    _option(group, "release_cut_url", help="a URL describing this release, for humans")
    group = common.add_argument_group(
        "branch (read from GitHub Actions, GitLab CI or git when not given)"
    )
    group.add_argument(
        "--branch", help="the branch this release is on: its baselines are that branch's"
    )
    group.add_argument(
        "--base-branch",
        dest="base_branch",
        help="the branch whose baselines count where this one has none (default: the build's "
        "main branch)",
    )
    group.add_argument(
        "--commit-sha", dest="commit_sha", help="the commit tested (for commit statuses)"
    )
    group = common.add_argument_group("capture")
    _option(group, "width", kind=int, default=1280, help="viewport width (default 1280)")
    _option(group, "height", kind=int, default=1024, help="viewport height (default 1024)")
    _option(group, "inject_css", help="CSS added to every page")
    _option(group, "inject_js", help="JavaScript run in every page")
    _option(group, "cookies", help="path to a JSON list of cookies to set")
    _option(group, "http_username", help="HTTP Basic user name")
    _option(group, "http_password", help="HTTP Basic password")
    group = common.add_argument_group("gating")
    _option(
        group,
        "wait",
        kind=bool,
        help="follow the release until it is ready for review; "
        "exit 0 no change, 1 changes to review, 2 failed runs",
    )
    _option(
        group,
        "wait_timeout",
        kind=float,
        default=1800.0,
        help="give up waiting after this many seconds (default 1800)",
    )
    _option(group, "poll_seconds", kind=float, default=2.0, help=argparse.SUPPRESS)
    _option(group, "junit", help="write a JUnit XML report, one testcase per run (with --wait)")
    return common


def run_server_tool(args) -> int:
    try:
        return args.tool(args)
    except (tools.ToolError, ApiError) as exc:
        print(f"dpxdt {args.command}: {exc}", file=sys.stderr)
        return tools.EXIT_ERROR


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "tool"):
        return run_server_tool(args)
    if args.command == "review":
        from . import review

        return review.serve(args.directory, args.port, open_browser=args.open_report)
    if not 0 <= args.threshold <= 1:
        parser.error("--threshold must be between 0 and 1")
    if not 1 <= args.parallel <= 16:
        parser.error("--parallel must be between 1 and 16")
    try:
        suites = yamlconfig.load_dir(args.directory)
    except yamlconfig.SuiteError as exc:
        print(f"dpxdt: {exc}", file=sys.stderr)
        return runner.EXIT_ERROR
    report = args.report or (args.directory / "report" if args.open_report else None)
    options = runner.Options(
        mode=args.command,
        directory=args.directory,
        output_dir=args.output_dir,
        test_filter=args.test_filter,
        threshold=args.threshold,
        chromium=args.chromium,
        parallel=args.parallel,
        junit=args.junit,
        branch=args.branch,
        base_branch=args.base_branch,
        main_branch=args.main_branch,
        report=report,
        open_report=args.open_report,
    )
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
