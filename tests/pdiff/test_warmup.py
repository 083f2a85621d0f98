"""make setup's warm-up (``python -m pdiff.warmup``): after it, a diff compiles nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).with_name("fixtures")

# Compares of the pixelmatch fixtures (opaque and translucent, moved rows, sizes) in every way
# a diff makes them; prints the compiled functions that had to be compiled for it, and how
# many were loaded from the cache instead.
DIFFS = """
import importlib, json, pkgutil, sys
from pathlib import Path
import numba
import pdiff
from pdiff import core

fixtures = Path(sys.argv[1])
for before in sorted(fixtures.glob("*-before.png")):
    after = before.with_name(before.name.replace("-before", "-after"))
    for metric in core.METRICS:
        core.compare(before, after, metric=metric)
        core.compare(before, after, metric=metric, align=False, make_diff_png=False, stop_over=0.0)
    core.compare(after, before, threshold=0.0, include_aa=True, subtle=False, align=False)
compiled, loaded = {}, []
for module in pkgutil.iter_modules(pdiff.__path__):
    if module.name in ("services", "tasks", "apps", "warmup", "__main__"):
        continue  # Django's, or not a diff's
    for name, value in vars(importlib.import_module(f"pdiff.{module.name}")).items():
        if isinstance(value, numba.core.registry.CPUDispatcher):
            if sum(value.stats.cache_hits.values()):
                loaded.append(f"{module.name}.{name}")
            misses = sum(value.stats.cache_misses.values())
            if misses:
                compiled[f"{module.name}.{name}"] = misses
print(json.dumps({"compiled": compiled, "loaded": loaded}))
"""


def test_after_the_warm_up_a_diff_compiles_nothing(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    warmed = subprocess.run(
        [sys.executable, "-m", "pdiff.warmup"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(warmed.stdout)["warmed"] is True
    assert any((tmp_path / "cache").rglob("*.nbc"))  # the machine code, kept
    diffs = subprocess.run(
        [sys.executable, "-c", DIFFS, str(FIXTURES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    counts = json.loads(diffs.stdout)
    assert counts["compiled"] == {}
    # The passes were there to compile, and came from the cache.
    assert {"metric._classify", "cells.tally", "pngio._unfilter"} <= set(counts["loaded"])
