"""settings.py reads every variable, fails loudly on bad values, and documents them all."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SETTINGS = (ROOT / "dpxdt_site" / "settings.py").read_text()
VARIABLES = sorted(set(re.findall(r'env_\w+\("([A-Z0-9_]+)"', SETTINGS)))


def load_settings(tmp_path, **env):
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "dpxdt_site.settings",
            "DPXDT_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True)


def test_settings_read_the_expected_variables():
    assert "DATABASE_URL" in VARIABLES and "DPXDT_SECRET_KEY" in VARIABLES
    assert len(VARIABLES) >= 15


@pytest.mark.parametrize("name", VARIABLES)
def test_every_variable_is_documented(name):
    assert re.search(rf"^#? ?{name}=", (ROOT / ".env.example").read_text(), re.M), name
    assert f"`{name}`" in (ROOT / "README.md").read_text(), name


def test_secret_key_is_required_without_debug(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode != 0
    assert "DPXDT_SECRET_KEY must be set" in result.stderr


def test_bad_boolean_is_refused(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="maybe")
    assert "DPXDT_DEBUG must be true or false" in result.stderr


def test_bad_number_is_refused(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_MAX_UPLOAD_BYTES="lots")
    assert "DPXDT_MAX_UPLOAD_BYTES must be an integer" in result.stderr


def test_empty_values_mean_defaults(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="1", CELERY_BROKER_URL="", DATABASE_URL="",
                           DPXDT_DIFF_THRESHOLD="")
    assert result.returncode == 0, result.stderr


def test_capture_pixel_limit_stays_within_what_the_diff_reads(tmp_path):
    from django.conf import settings

    from pdiff import core

    assert settings.DIFF_MAX_PIXELS == core.MAX_PIXELS
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_CAPTURE_MAX_PIXELS="300000000")
    assert "DPXDT_CAPTURE_MAX_PIXELS must be between" in result.stderr


def test_an_unreadable_capture_network_rule_is_refused_at_start(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_CAPTURE_DENY="10.0.0.0/33")
    assert "capture network rule '10.0.0.0/33'" in result.stderr
