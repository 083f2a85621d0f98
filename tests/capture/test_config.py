import dataclasses
import json
import re

import pytest

from capture import config
from tests.conftest import ROOT


def test_empty_config_uses_defaults():
    parsed = config.parse("")
    assert parsed.viewportSize == {"width": 1280, "height": 1024}
    assert parsed.fullPage is True
    assert parsed.resourceTimeoutMs == 10000


def test_every_original_key_is_accepted():
    parsed = config.parse(
        json.dumps(
            {
                "clipRect": {"left": 0, "top": 0, "width": 100, "height": 200},
                "cookies": [
                    {"name": "my-cookie-name", "value": "my-cookie-value", "domain": ".example.com"}
                ],
                "httpUserName": "my-username",
                "httpPassword": "my-password",
                "injectCss": ".my-css-rules-here { display: none; }",
                "injectJs": "document.getElementById('foobar').innerText = 'foo';",
                "injectHeaders": {"domain.com": {"X-CustomHeader": "HeaderValue"}},
                "resourcesToIgnore": ["www.google-analytics.com", "bad.example.com"],
                "resourceTimeoutMs": 60000,
                "userAgent": "My fancy user agent",
                "viewportSize": {"width": 1024, "height": 768},
            }
        )
    )  # the README's example, verbatim
    assert parsed.clipRect == {"left": 0, "top": 0, "width": 100, "height": 200}
    assert parsed.resourceTimeoutMs == 60000


def test_invalid_json_is_named():
    with pytest.raises(config.ConfigError, match="config is not valid JSON"):
        config.parse("{viewportSize: 1}")


def test_unknown_key_is_named():
    with pytest.raises(config.ConfigError, match="unknown config key: viewport "):
        config.parse({"viewport": {"width": 1}})


@pytest.mark.parametrize(
    "key,value,message",
    [
        (
            "viewportSize",
            {"width": 0, "height": 10},
            "viewportSize width and height must be at least 1",
        ),
        ("viewportSize", {"width": 10}, "viewportSize must be an object with width, height"),
        ("clipRect", {"left": -1, "top": 0, "width": 1, "height": 1}, "clipRect.left must be"),
        ("fullPage", "yes", "fullPage must be true or false"),
        (
            "resourcesToIgnore",
            ["(unclosed"],
            r"resourcesToIgnore: '\(unclosed' is not a valid RE2 regex",
        ),
        ("injectHeaders", {"x": "y"}, r"injectHeaders\['x'\] must be an object"),
        ("cookies", [{"name": "a"}], r"cookies\[0\] must be an object with name and value"),
        (
            "waitUntil",
            "idle",
            "waitUntil must be one of load, domcontentloaded, networkidle, commit",
        ),
        ("colorScheme", "blue", "colorScheme must be one of light, dark, no-preference"),
        ("deviceScaleFactor", 0, "deviceScaleFactor must be a number between 0 and 8"),
        ("delayMs", -5, "delayMs must be a non-negative integer"),
        ("timeoutMs", 500000, "timeoutMs must be an integer between 1000 and 120000"),
        ("diffThreshold", 1.5, "diffThreshold must be a number between 0 and 1"),
        ("maxDistortion", "1%", "maxDistortion must be a number between 0 and 1"),
    ],
)
def test_bad_values_are_named(key, value, message):
    with pytest.raises(config.ConfigError, match=message):
        config.parse({key: value})


def test_basic_auth_needs_both_halves():
    with pytest.raises(config.ConfigError, match="httpUserName and httpPassword"):
        config.parse({"httpUserName": "me"})


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://x/y", "/x"])
def test_only_http_targets(url):
    with pytest.raises(config.ConfigError, match="targetUrl must be an http"):
        config.parse({}).with_target(url)


def test_canonical_json_keeps_what_was_given_plus_the_target():
    parsed = config.parse({"injectCss": "a{}", "targetUrl": "http://old.example/"})
    stored = json.loads(parsed.with_target("http://new.example/").to_json())
    assert stored == {"injectCss": "a{}", "targetUrl": "http://new.example/"}


def test_readme_table_is_the_schema():
    readme = (ROOT / "README.md").read_text()
    assert config.markdown_table() in readme, "regenerate with: python -m capture.config"
    documented = set(re.findall(r"^\| `(\w+)`", readme, re.M))
    assert {key.name for key in config.KEYS} <= documented


# --- the original clients' cookies and keys ---------------------------------------------------


def test_a_date_string_expires_is_converted_to_seconds():
    parsed = config.parse(
        {
            "cookies": [
                {"name": "a", "value": "1", "expires": "Wed, 21 Oct 2026 07:28:00 GMT"},
                {"name": "b", "value": "2", "expires": "2026-10-21T07:28:00"},  # no zone: UTC
                {"name": "c", "value": "3", "expires": 1792567680},
            ]
        }
    )
    assert [c["expires"] for c in parsed.cookies] == [1792567680.0] * 3
    assert parsed.warnings == ()


def test_phantomjs_expiry_is_read_as_expires_with_a_warning():
    parsed = config.parse({"cookies": [{"name": "a", "value": "1", "expiry": 1792567680}]})
    assert parsed.cookies[0]["expiry"] == 1792567680.0
    assert parsed.warnings == ("cookies[0].expiry read as expires (PhantomJS's spelling)",)


@pytest.mark.parametrize(
    "cookie, message",
    [
        (
            {"name": "a", "value": "1", "expires": "next tuesday-ish"},
            "cookies[0].expires must be seconds since 1970 or a date",
        ),
        (
            {"name": "a", "value": "1", "expires": True},
            "cookies[0].expires must be seconds since 1970 or a date",
        ),
        ({"name": "", "value": "1"}, "cookies[0].name must be a non-empty string"),
        ({"name": "a", "value": {"x": 1}}, "cookies[0].value must be a string"),
        (
            {"name": "a", "value": "1", "path": "relative"},
            "cookies[0].path must be a path starting with /",
        ),
        ({"name": "a", "value": "1", "secure": "yes"}, "cookies[0].secure must be true or false"),
        (
            {"name": "a", "value": "1", "sameSite": "strict"},
            "cookies[0].sameSite must be Strict, Lax or None",
        ),
        (
            {"name": "a", "value": "1", "url": "file:///etc/passwd"},
            "cookies[0].url must be an http(s) URL",
        ),
        ({"name": "a", "value": "1", "color": "blue"}, "cookies[0] has unknown fields: color"),
    ],
)
def test_every_cookie_field_is_checked_at_request_time(cookie, message):
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.parse({"cookies": [cookie]})


def test_the_originals_selenium_keys_are_accepted_and_ignored_with_a_warning():
    parsed = config.parse(
        {
            "command_executor": "http://hub.example.com:4444/wd/hub",
            "desired_capabilities": {"browserName": "firefox"},
        }
    )
    assert parsed.warnings == (
        "command_executor is ignored: Depicted captures with its own Chromium",
        "desired_capabilities is ignored: Depicted captures with its own Chromium",
    )
    again = config.parse(parsed.to_json())  # what the worker reads back from storage
    assert again.warnings == parsed.warnings
    with pytest.raises(config.ConfigError, match="unknown config key: selenium_grid"):
        config.parse({"selenium_grid": "x"})  # anything else is still refused


def test_secrets_are_split_out_and_merged_back():
    sent = config.parse(
        {
            "httpUserName": "ci",
            "httpPassword": "hunter2",
            "cookies": [{"name": "sid", "value": "s3ssion", "domain": "127.0.0.1"}],
            "injectHeaders": {".*": {"Authorization": "Bearer t0ken", "X-Team": "web"}},
            "viewportSize": {"width": 800, "height": 600},
        }
    )
    viewable, secrets = config.split_secrets(sent)
    shown = viewable.to_json()
    for secret in ("hunter2", "s3ssion", "t0ken", "web"):
        assert secret not in shown
    assert json.loads(shown)["httpPassword"] == config.MASK
    assert json.loads(shown)["cookies"][0] == {
        "name": "sid",
        "value": config.MASK,
        "domain": "127.0.0.1",
    }
    assert json.loads(shown)["injectHeaders"] == {
        ".*": {"Authorization": config.MASK, "X-Team": config.MASK}
    }
    assert config.merge_secrets(json.loads(shown), secrets) == sent.values
    assert config.split_secrets(config.parse({"fullPage": False}))[1] == {}


def test_every_key_is_an_attribute_of_the_config_and_nothing_else_is():
    fields = {field.name for field in dataclasses.fields(config.CaptureConfig)}
    assert fields - {"values", "warnings"} == {key.name for key in config.KEYS}
    parsed = config.parse({"delayMs": 5})
    assert (parsed.delayMs, parsed.waitUntil, parsed.clipRect) == (5, "load", None)
    parsed.viewportSize["width"] = 1  # each config reads its own copy of a default
    assert config.parse({}).viewportSize == {"width": 1280, "height": 1024}
