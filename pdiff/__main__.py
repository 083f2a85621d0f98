"""python -m pdiff BEFORE.png AFTER.png [--diff OUT.png] [--threshold T] [--metric M]

Prints the comparison as one JSON object; exits 0 when the images match, 1 when they differ,
2 when an image cannot be read.
"""

import argparse
import json
import sys

from . import core


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pdiff", description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the reference image")
    parser.add_argument("after", help="the new image")
    parser.add_argument("--diff", metavar="OUT.png", help="write the diff image here")
    parser.add_argument(
        "--threshold",
        type=float,
        default=core.DEFAULT_THRESHOLD,
        help="colour threshold 0..1 (default %(default)s)",
    )
    parser.add_argument(
        "--metric",
        choices=core.METRICS,
        default=core.DEFAULT_METRIC,
        help="colour metric: oklab (pixelmatch main) or yiq (pixelmatch 7.2.0)",
    )
    parser.add_argument(
        "--include-aa", action="store_true", help="count anti-aliased pixels as changes"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.threshold <= 1:
        parser.error("--threshold must be between 0 and 1")
    try:
        result = core.compare(
            args.before,
            args.after,
            threshold=args.threshold,
            metric=args.metric,
            include_aa=args.include_aa,
            make_diff_png=bool(args.diff),
        )
    except core.ImageDecodeError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    if args.diff and result.diff_png:
        with open(args.diff, "wb") as out:
            out.write(result.diff_png)
    print(json.dumps(result.as_dict()))
    return 1 if result.differs else 0


if __name__ == "__main__":
    sys.exit(main())
