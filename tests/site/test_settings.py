"""settings.py reads every variable, fails loudly on bad values, and documents them all."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SETTINGS = (ROOT / "dpxdt_site" / "settings.py").read_text()
VARIABLES = sorted(set(re.findall(r'env_\w+\("([A-Z0-9_]+)"', SETTINGS)))


def load_settings(tmp_path, **env):
    base = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "dpxdt_site.settings",
        "DPXDT_DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_settings_read_the_expected_variables():
    assert "DATABASE_URL" in VARIABLES and "DPXDT_SECRET_KEY" in VARIABLES
    assert len(VARIABLES) >= 15


@pytest.mark.parametrize("name", VARIABLES)
def test_every_variable_is_documented(name):
    assert re.search(rf"^#? ?{name}=", (ROOT / ".env.example").read_text(), re.M), name
    assert f"`{name}`" in (ROOT / "README.md").read_text(), name


def test_a_production_layout_refuses_to_start_without_a_secret_key(tmp_path):
    """Debug off and the data somewhere other than ./var: no key is made up."""
    result = load_settings(tmp_path)
    assert result.returncode != 0
    assert (
        "DPXDT_SECRET_KEY must be set when DPXDT_DEBUG is off and DPXDT_DATA_DIR is not the default"
    ) in result.stderr
    assert not (tmp_path / "secret_key").exists()


def secret_of(**env):
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "dpxdt_site.settings", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_with_debug_a_key_is_made_once_in_the_data_dir(tmp_path):
    first = secret_of(DPXDT_DEBUG="true", DPXDT_DATA_DIR=str(tmp_path))
    assert len(first) >= 50
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert secret_of(DPXDT_DEBUG="true", DPXDT_DATA_DIR=str(tmp_path)) == first
    assert (
        secret_of(DPXDT_DEBUG="true", DPXDT_DATA_DIR=str(tmp_path), DPXDT_SECRET_KEY="explicit")
        == "explicit"
    )


def test_the_embedded_default_needs_no_variables_at_all():
    """A fresh shell, nothing set: the embedded default (./var) makes and keeps its key."""
    key_file = ROOT / "var" / "secret_key"
    before = key_file.read_text() if key_file.exists() else None
    key = secret_of()
    assert key_file.read_text().strip() == key
    assert before is None or before.strip() == key
    assert secret_of() == key


def test_two_processes_starting_at_once_agree_on_the_key(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "dpxdt_site.settings",
        "DPXDT_DEBUG": "true",
        "DPXDT_DATA_DIR": str(tmp_path),
    }
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(keys) == 1 and keys == {(tmp_path / "secret_key").read_text().strip()}


def test_manage_py_commands_work_in_an_empty_environment():
    """The local tool and the bootstrap table of the README, with nothing set."""
    env = {"PATH": "/usr/bin:/bin"}
    for args in (["dpxdt_local", "--help"], ["check"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert (
        "update"
        in subprocess.run(
            [sys.executable, "manage.py", "dpxdt_local", "--help"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )


def test_bad_boolean_is_refused(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="maybe")
    assert "DPXDT_DEBUG must be true or false" in result.stderr


def test_bad_number_is_refused(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_MAX_UPLOAD_BYTES="lots")
    assert "DPXDT_MAX_UPLOAD_BYTES must be an integer" in result.stderr


def test_empty_values_mean_defaults(tmp_path):
    result = load_settings(
        tmp_path, DPXDT_DEBUG="1", CELERY_BROKER_URL="", DATABASE_URL="", DPXDT_DIFF_THRESHOLD=""
    )
    assert result.returncode == 0, result.stderr


def test_capture_pixel_limit_stays_within_what_the_diff_reads(tmp_path):
    from django.conf import settings

    from pdiff import core

    assert settings.DIFF_MAX_PIXELS == core.MAX_PIXELS
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_CAPTURE_MAX_PIXELS="300000000")
    assert "DPXDT_CAPTURE_MAX_PIXELS must be between" in result.stderr


def test_a_capture_niceness_out_of_range_is_refused_at_start(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_CAPTURE_NICE="20")
    assert "DPXDT_CAPTURE_NICE must be between 0 and 19, not 20" in result.stderr


def test_no_capture_attempts_is_refused_at_start(tmp_path):
    """A capture is tried at least once: 0 attempts would leave a run with no capture and no
    reason."""
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_CAPTURE_ATTEMPTS="0")
    assert "DPXDT_CAPTURE_ATTEMPTS must be at least 1, not 0" in result.stderr


def test_an_unreadable_capture_network_rule_is_refused_at_start(tmp_path):
    result = load_settings(tmp_path, DPXDT_DEBUG="1", DPXDT_CAPTURE_DENY="10.0.0.0/33")
    assert "capture network rule '10.0.0.0/33'" in result.stderr


LIBRARY_CHATTER = """
import django, logging
django.setup()
from artifacts import thumbnails
from tests.conftest import make_png
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
logging.getLogger().addHandler(Keep())
thumbnails.thumbnail(make_png(1280, 3000, (200, 10, 10, 255)))
print(sorted({r.name for r in records if r.name.startswith("pyvips")}))
"""


@pytest.mark.parametrize("level, chatty", [(None, False), ("INFO", True)])
def test_library_chatter_is_off_unless_asked_for(tmp_path, level, chatty):
    """libvips logs each resize at INFO (3,446 of 5,351 lines of a make run once): off by
    default, DPXDT_LIBRARY_LOG_LEVEL turns it on."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "dpxdt_site.settings",
        "DPXDT_DATA_DIR": str(tmp_path),
        "DPXDT_DEBUG": "true",
        **({"DPXDT_LIBRARY_LOG_LEVEL": level} if level else {}),
    }
    output = subprocess.run(
        [sys.executable, "-c", LIBRARY_CHATTER], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert output.returncode == 0, output.stderr[-2000:]
    assert (output.stdout.strip() != "[]") == chatty, output.stdout
    assert "is deprecated" not in output.stderr  # the thumbnails use libvips's current options


DEFAULT_BROKER = re.search(r'env_str\("CELERY_BROKER_URL", "([^"]+)"\)', SETTINGS).group(1)


@pytest.mark.parametrize("url, warned", [(DEFAULT_BROKER, False), ("filesystem://", True)])
def test_the_embedded_broker_names_its_host(tmp_path, caplog, url, warned):
    """kombu warns "No hostname was supplied" at every connection of a URL that names none (a
    first start's worker log was full of it with ``filesystem://``): the default names one."""
    from kombu import Connection

    folders = {key: str(tmp_path) for key in ("data_folder_in", "data_folder_out")}
    with caplog.at_level("WARNING"), Connection(url, transport_options=folders) as connection:
        connection.connect()
        connection.as_uri()  # as a worker says where it is connected
    assert ("No hostname was supplied" in caplog.text) == warned
