"""The diff's memory is bounded by the width of the images, not their height: huge pairs are
compared in a fresh process whose peak RSS (resource.getrusage) is measured."""

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

# Page-like images made by libvips without ever holding them in memory: white, with rows of
# dark "words" (so most pixels sit in flat areas, as on a real page) and a gradient band.
MAKE = textwrap.dedent("""
    import sys
    import pyvips

    def page(width, height, changed):
        x, y = pyvips.Image.xyz(width, height)[0], pyvips.Image.xyz(width, height)[1]
        ink = ((x % 97) < 61) & ((y % 23) < 9) & (((x // 97 + y // 23) % 5) != 0)
        grey = ink.ifthenelse(40, 255)
        band = (y > height // 3) & (y < height // 3 + 400)
        grey = band.ifthenelse((x % 256), grey)
        if changed:
            half_w, half_h = width // 2, height // 2
            box = (x > half_w) & (x < half_w + 300) & (y > half_h) & (y < half_h + 300)
            grey = box.ifthenelse(120, grey)
        grey = grey.cast("uchar")
        return grey.bandjoin([grey, grey, 255]).cast("uchar")

    width, height = int(sys.argv[1]), int(sys.argv[2])
    changed, path = sys.argv[3] == "1", sys.argv[4]
    page(width, height, changed).pngsave(path, compression=1)
""")

MEASURE = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[3])
    from pdiff import core
    started = time.perf_counter()
    result = core.compare(sys.argv[1], sys.argv[2])
    print(json.dumps({
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "changed_pixels": result.changed_pixels,
        "size_changed": result.size_changed,
        "diff_png": len(result.diff_png or b""),
        "regions": [r.as_dict() for r in result.regions[:3]],
    }))
""")


def make(tmp_path, name, width, height, changed=False):
    path = tmp_path / name
    subprocess.run(
        [sys.executable, "-c", MAKE, str(width), str(height), "1" if changed else "0", str(path)],
        check=True,
        timeout=300,
    )
    return path


def measure(before, after):
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(before), str(after), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    return json.loads(output)


def test_a_14142_square_pair_fits_in_1_5_gb(tmp_path):
    before = make(tmp_path, "before.png", 14142, 14142)
    after = make(tmp_path, "after.png", 14142, 14142, changed=True)
    found = measure(before, after)
    print(found)
    assert found["peak_rss_mb"] < 1536
    assert found["seconds"] < 60
    assert found["changed_pixels"] == 299 * 299  # the box, and only the box
    [region] = found["regions"]
    assert (region["x"], region["y"], region["width"], region["height"]) == (7072, 7072, 299, 299)


def test_wide_against_tall_fits_in_1_5_gb(tmp_path):
    before = make(tmp_path, "wide.png", 8000, 4000)
    after = make(tmp_path, "tall.png", 4000, 8000)
    found = measure(before, after)
    print(found)
    assert found["peak_rss_mb"] < 1536
    assert found["seconds"] < 60
    assert found["size_changed"]
    # The canvas is 8000x8000; the two 4000x4000 strips that only one image covers changed.
    assert found["changed_pixels"] >= 2 * 4000 * 4000 * 0.9
    assert found["diff_png"] > 0
