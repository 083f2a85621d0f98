import json
import subprocess
import sys

from PIL import Image

from tests.conftest import BLACK, ROOT, make_png


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "pdiff", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_prints_the_result_and_writes_the_diff(tmp_path):
    (tmp_path / "a.png").write_bytes(make_png(squares=[(20, 20, 20, BLACK)]))
    (tmp_path / "b.png").write_bytes(make_png(squares=[(120, 120, 20, BLACK)]))
    result = run_cli(
        tmp_path / "a.png", tmp_path / "b.png", "--diff", tmp_path / "d.png", "--threshold", "0.2"
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["changed_pixels"] == 800
    assert data["distortion"] == 0.02
    assert data["threshold"] == 0.2
    assert data["size_changed"] is False
    assert len(data["regions"]) == 2
    assert Image.open(tmp_path / "d.png").size == (200, 200)


def test_cli_exit_0_when_same(tmp_path):
    (tmp_path / "a.png").write_bytes(make_png())
    result = run_cli(tmp_path / "a.png", tmp_path / "a.png")
    assert result.returncode == 0
    assert json.loads(result.stdout)["changed_pixels"] == 0


def test_cli_exit_2_on_unreadable_image(tmp_path):
    (tmp_path / "a.png").write_bytes(make_png())
    (tmp_path / "b.png").write_bytes(b"nope")
    result = run_cli(tmp_path / "a.png", tmp_path / "b.png")
    assert result.returncode == 2
    assert "after image is not a PNG image: text" in json.loads(result.stdout)["error"]


def test_cli_rejects_bad_threshold(tmp_path):
    result = run_cli("a.png", "b.png", "--threshold", "3")
    assert result.returncode == 2
    assert "--threshold must be between 0 and 1" in result.stderr
