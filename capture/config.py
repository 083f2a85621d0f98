"""The capture config: every key, its type, default and meaning, in one place.

The JSON a client passes as ``config`` to ``/api/request_run`` (and the ``config:`` stanza of the
local tool's YAML) is checked here; an unknown key or a bad value is an error naming the key.
The README's table of keys is generated from ``KEYS`` (``python -m capture.config``) and a test
checks that the two agree.

No Django here: the local tool uses this without a server.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any
from urllib.parse import urlsplit

from . import checks
from .checks import (  # noqa: F401 (the names callers know them by)
    MAX_TEXT,
    ConfigError,
    check_selector,
    check_url,
    compile_regex,
)

WAIT_UNTIL = ("load", "domcontentloaded", "networkidle", "commit")
# Full-page captures are cut at this height (CSS pixels) unless a config says otherwise.
DEFAULT_MAX_HEIGHT = 32768
# The server's DPXDT_CAPTURE_MAX_PIXELS default: width x height x scale^2 of one screenshot.
DEFAULT_MAX_PIXELS = 60_000_000
COLOR_SCHEMES = ("light", "dark", "no-preference")


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    kind: str  # how the value is checked: see _CHECKS
    default: Any
    doc: str
    original: bool = False  # a key of the original dpxdt capture.js


KEYS = [
    Key(
        "targetUrl",
        "url",
        None,
        "The page to capture. Set by the server from `url` / `ref_url`; "
        "anything given here is replaced.",
        original=True,
    ),
    Key(
        "viewportSize",
        "size",
        {"width": 1280, "height": 1024},
        "Browser viewport `{width, height}` in CSS pixels.",
        original=True,
    ),
    Key(
        "clipRect",
        "rect",
        None,
        "Capture only this rectangle `{left, top, width, height}` of the page (left and top are "
        "honoured, unlike the original).",
        original=True,
    ),
    Key(
        "fullPage",
        "bool",
        True,
        "Capture the whole scrollable page (as the original did), not just the viewport.",
    ),
    Key(
        "maxHeight",
        "height",
        DEFAULT_MAX_HEIGHT,
        "A full page taller than this (CSS pixels) is cut here, and the log says so; the "
        "server's `DPXDT_CAPTURE_MAX_PIXELS` may cut it shorter (width × height × scale²).",
    ),
    Key(
        "cookies",
        "cookies",
        [],
        "Cookies set before loading: `[{name, value, domain, path?, secure?, httponly?, "
        "expires?, sameSite?}]`; `domain` may be omitted to use the page's host. `expires` is "
        'seconds since 1970 or a date (`"Wed, 21 Oct 2026 07:28:00 GMT"`, ISO 8601); '
        "PhantomJS's `expiry` is read as `expires`, with a warning in the capture log.",
        original=True,
    ),
    Key("httpUserName", "str", None, "HTTP Basic user name (needs `httpPassword`).", original=True),
    Key("httpPassword", "str", None, "HTTP Basic password (needs `httpUserName`).", original=True),
    Key(
        "injectHeaders",
        "headers",
        {},
        'Extra request headers by URL regex: `{"example\\\\.com": {"X-Header": "value"}}`; '
        "every request whose URL matches a regex gets its headers. Regexes are RE2 (matched in "
        "linear time; no lookaround or backreferences).",
        original=True,
    ),
    Key(
        "resourcesToIgnore",
        "regexes",
        [],
        "URL regexes (RE2) of requests to abort (analytics, ads, ...); blocked requests are "
        "logged.",
        original=True,
    ),
    Key(
        "resourceTimeoutMs",
        "int",
        10000,
        "How long one resource may take; a slower one is no longer waited for (the load event "
        "too is waited for at most this long).",
        original=True,
    ),
    Key("userAgent", "line", None, "The User-Agent string.", original=True),
    Key(
        "injectCss",
        "str",
        None,
        "CSS added to the page after it loaded (hide dynamic areas, force colours).",
        original=True,
    ),
    Key(
        "injectJs",
        "str",
        None,
        "JavaScript run after `injectCss`; it may click and navigate (the capture waits for the "
        "page again). An exception fails the capture with its message.",
        original=True,
    ),
    Key(
        "waitUntil",
        "choice:" + ",".join(WAIT_UNTIL),
        "load",
        "Which load state to wait for: `load` (then until the network is quiet), "
        "`networkidle` (no request for 500 ms), `domcontentloaded` or `commit`.",
    ),
    Key(
        "waitForSelector",
        "selector",
        None,
        "Wait until an element matching this CSS selector is "
        "visible; the capture fails if none appears.",
    ),
    Key("delayMs", "int", 0, "Wait this long after the page is ready, before the screenshot."),
    Key(
        "hideSelectors",
        "selectors",
        [],
        "CSS selectors of elements made invisible (`visibility: hidden`; they keep their space).",
    ),
    Key(
        "maskSelectors",
        "selectors",
        [],
        "CSS selectors of elements covered by a solid box in the screenshot (for dynamic content).",
    ),
    Key(
        "ignoreSelectors",
        "selectors",
        [],
        "CSS selectors of elements whose changes never count: their boxes (before and after) "
        "are left out of the diff and no cause is reported inside them, while the screenshot "
        "still shows them (unlike `hideSelectors` and `maskSelectors`). The build's setting of "
        "the same name adds to it.",
    ),
    Key(
        "layoutMap",
        "bool",
        True,
        "Record the page's elements with the screenshot (their boxes, painted styles, text), "
        "so the diff names what changed (`causes`) and a changed style counts whatever the "
        "pixel threshold. Off: the pixel-only verdict.",
    ),
    Key("deviceScaleFactor", "number", 1, "Device pixel ratio (2 for a retina-like screenshot)."),
    Key(
        "colorScheme",
        "choice:" + ",".join(COLOR_SCHEMES),
        "light",
        "`prefers-color-scheme` the page sees.",
    ),
    Key(
        "locale",
        "locale",
        None,
        "Browser locale, a BCP 47 tag, e.g. `en-GB` (`Accept-Language`, `Intl`).",
    ),
    Key("timezoneId", "timezone", None, "Time zone, an IANA name, e.g. `Europe/Paris`."),
    Key("ignoreHTTPSErrors", "bool", False, "Accept invalid TLS certificates."),
    Key("timeoutMs", "timeout", 60000, "Hard limit on one try of the capture (1000–120000)."),
    Key(
        "diffThreshold",
        "fraction",
        None,
        "Colour threshold of this run's diff, 0..1 (default: the build's setting, else 0.1).",
    ),
    Key(
        "diffMetric",
        "choice:oklab,yiq",
        None,
        "Colour metric of this run's diff: oklab "
        "(perceptual, pixelmatch main) or yiq (pixelmatch 7.2.0) (default: the build's setting).",
    ),
    Key(
        "maxDistortion",
        "fraction",
        None,
        "Share of changed pixels (0..1) this run may have "
        "and still count as unchanged (default: the build's setting, else 0).",
    ),
    Key(
        "command_executor",
        "ignored",
        None,
        "Sent by the original `url_pair_diff` for its Selenium mode: accepted and ignored "
        "(Depicted captures with its own Chromium), with a warning in the capture log.",
        original=True,
    ),
    Key(
        "desired_capabilities",
        "ignored",
        None,
        "The same: the Selenium capabilities of the original's experimental mode; ignored.",
        original=True,
    ),
]
BY_NAME = {key.name: key for key in KEYS}


def _key() -> Any:
    return dataclasses.field(init=False, repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class CaptureConfig:
    """A checked config, read by attribute: each key of ``KEYS`` is an attribute of its JSON
    name holding the value given, else the key's default (a test keeps the two lists equal).
    ``values`` holds only the keys given (what is stored, and what ``to_json`` writes)."""

    values: dict
    # What was accepted but deserves a word in the capture log (keys of the original's that
    # mean nothing here, spellings read as another key).
    warnings: tuple = ()

    targetUrl: str | None = _key()  # noqa: N815 (the JSON keys' own spelling, here and below)
    viewportSize: dict[str, int] = _key()  # noqa: N815
    clipRect: dict[str, int] | None = _key()  # noqa: N815
    fullPage: bool = _key()  # noqa: N815
    maxHeight: int = _key()  # noqa: N815
    cookies: list[dict[str, Any]] = _key()
    httpUserName: str | None = _key()  # noqa: N815
    httpPassword: str | None = _key()  # noqa: N815
    injectHeaders: dict[str, dict[str, str]] = _key()  # noqa: N815
    resourcesToIgnore: list[str] = _key()  # noqa: N815
    resourceTimeoutMs: int = _key()  # noqa: N815
    userAgent: str | None = _key()  # noqa: N815
    injectCss: str | None = _key()  # noqa: N815
    injectJs: str | None = _key()  # noqa: N815
    waitUntil: str = _key()  # noqa: N815
    waitForSelector: str | None = _key()  # noqa: N815
    delayMs: int = _key()  # noqa: N815
    hideSelectors: list[str] = _key()  # noqa: N815
    maskSelectors: list[str] = _key()  # noqa: N815
    ignoreSelectors: list[str] = _key()  # noqa: N815
    layoutMap: bool = _key()  # noqa: N815
    deviceScaleFactor: float = _key()  # noqa: N815
    colorScheme: str = _key()  # noqa: N815
    locale: str | None = _key()
    timezoneId: str | None = _key()  # noqa: N815
    ignoreHTTPSErrors: bool = _key()  # noqa: N815
    timeoutMs: int = _key()  # noqa: N815
    diffThreshold: float | None = _key()  # noqa: N815
    diffMetric: str | None = _key()  # noqa: N815
    maxDistortion: float | None = _key()  # noqa: N815
    command_executor: Any = _key()
    desired_capabilities: Any = _key()

    def __post_init__(self):
        for key in KEYS:
            value = self.values.get(key.name, key.default)
            # A default is the table's: each config gets its own copy to read.
            object.__setattr__(self, key.name, copy.deepcopy(value))

    def with_target(self, url: str) -> CaptureConfig:
        return CaptureConfig(
            {**self.values, "targetUrl": check_url("targetUrl", url)}, self.warnings
        )

    def to_json(self) -> str:
        """The canonical JSON stored as the run's config artifact (only keys given + target)."""
        return json.dumps(self.values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def context_key(self) -> tuple:
        """What a browser context fixes, and what decides which responses its HTTP cache may
        hand out (the credentials a request carries): configs with the same key may share
        one. Two runs that capture a page as two different users never share a cache."""
        return (
            json.dumps(self.cookies, sort_keys=True),
            json.dumps(self.injectHeaders, sort_keys=True),
            self.userAgent,
            self.locale,
            self.timezoneId,
            self.colorScheme,
            self.deviceScaleFactor,
            self.ignoreHTTPSErrors,
            self.httpUserName,
            self.httpPassword,
            # The one origin the credentials are answered to.
            self.origin() if self.httpUserName is not None else None,
        )

    def origin(self) -> str:
        """The target's origin as a browser spells it (``URL.origin``: scheme://host, and
        :port unless the scheme's own): where httpUserName/httpPassword go."""
        parts = urlsplit(self.targetUrl or "")
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        default = 443 if parts.scheme == "https" else 80
        port = f":{parts.port}" if parts.port and parts.port != default else ""
        return f"{parts.scheme}://{host}{port}"


def parse(config) -> CaptureConfig:
    """Check a config given as a JSON string, bytes or dict. Raises ConfigError."""
    if config is None or config == "" or config == b"":
        return CaptureConfig({})
    if isinstance(config, (str, bytes)):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc}") from None
        except RecursionError:
            raise ConfigError("config is not valid JSON: nested too deeply") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a JSON object, not {type(config).__name__}")
    unknown = sorted(set(config) - set(BY_NAME))
    if unknown:
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''}: "
            f"{', '.join(unknown)} (known: {', '.join(sorted(BY_NAME))})"
        )
    values = {}
    warnings: list[str] = []
    for name, value in config.items():
        if value is None:
            continue
        kind = BY_NAME[name].kind.split(":")[0]
        if kind == "ignored":
            warnings.append(f"{name} is ignored: Depicted captures with its own Chromium")
            values[name] = value  # kept, so the stored config says what was sent
            continue
        values[name] = _CHECKS[kind](name, value)
    if ("httpUserName" in values) != ("httpPassword" in values):
        raise ConfigError("httpUserName and httpPassword must be given together")
    for index, cookie in enumerate(values.get("cookies", [])):
        if "expiry" in cookie and "expires" not in cookie:
            warnings.append(f"cookies[{index}].expiry read as expires (PhantomJS's spelling)")
    return CaptureConfig(values, tuple(warnings))


def _choice(name, value):
    options = BY_NAME[name].kind.split(":", 1)[1].split(",")
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}, not {json.dumps(value)}")
    return value


_CHECKS = {
    "url": checks.check_url,
    "timeout": checks.timeout,
    "height": checks.height,
    "fraction": checks.fraction,
    "bool": checks.boolean,
    "str": checks.text,
    "line": checks.line,
    "locale": checks.locale,
    "timezone": checks.timezone,
    "selector": checks.selector,
    "int": checks.integer,
    "number": checks.number,
    "size": checks.size,
    "rect": checks.rect,
    "strings": checks.strings,
    "selectors": checks.selectors,
    "regexes": checks.regexes,
    "headers": checks.headers,
    "cookies": checks.cookies,
    "choice": _choice,
}


def check_bounds(config: CaptureConfig, max_pixels: int) -> None:
    """Refuse a config whose screenshot cannot fit ``max_pixels`` (width x height x scale^2)
    whatever the page: the viewport, or the clip rectangle. A full page is cut to fit instead
    (see capture.browser). Raises ConfigError naming the key."""
    scale = config.deviceScaleFactor
    viewport = config.viewportSize
    viewport_key = "deviceScaleFactor" if "deviceScaleFactor" in config.values else "viewportSize"
    for key, what, box in (
        (viewport_key, "a {}x{} viewport", viewport),
        ("clipRect", "{}x{}", config.clipRect),
    ):
        if box and box["width"] * box["height"] * scale * scale > max_pixels:
            raise ConfigError(
                f"{key}: {what.format(box['width'], box['height'])} at scale {scale:g} is "
                f"{box['width'] * box['height'] * scale * scale / 1e6:.1f} megapixels, over "
                f"this server's limit of {max_pixels / 1e6:g} (DPXDT_CAPTURE_MAX_PIXELS)"
            )


def markdown_table() -> str:
    """The README's table of config keys."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key in KEYS:
        default = "—" if key.default in (None, [], {}) else f"`{json.dumps(key.default)}`"
        origin = "" if key.original else " *(new)*"
        rows.append(f"| `{key.name}`{origin} | {default} | {key.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())


# --- secrets ----------------------------------------------------------------------------------

MASK = "••••"


def split_secrets(config: CaptureConfig) -> tuple[CaptureConfig, dict]:
    """The config anyone who may view the run may see (``httpPassword``, every cookie's value
    and every ``injectHeaders`` value replaced by MASK), and the secrets taken out of it, which
    ``merge_secrets`` puts back."""
    values = json.loads(json.dumps(config.values))  # a deep copy
    secrets: dict = {}
    if "httpPassword" in values:
        secrets["httpPassword"] = values["httpPassword"]
        values["httpPassword"] = MASK
    if values.get("cookies"):
        secrets["cookies"] = [cookie.get("value") for cookie in values["cookies"]]
        for cookie in values["cookies"]:
            cookie["value"] = MASK
    if values.get("injectHeaders"):
        secrets["injectHeaders"] = values["injectHeaders"]
        values["injectHeaders"] = {
            pattern: {header: MASK for header in headers}
            for pattern, headers in values["injectHeaders"].items()
        }
    return CaptureConfig(values, config.warnings), secrets


def merge_secrets(config: dict, secrets: dict) -> dict:
    """The config as sent: the masked one with its secrets put back (a JSON object)."""
    if not secrets:
        return config
    merged = json.loads(json.dumps(config))
    if "httpPassword" in secrets:
        merged["httpPassword"] = secrets["httpPassword"]
    for cookie, value in zip(merged.get("cookies", []), secrets.get("cookies", []), strict=False):
        cookie["value"] = value
    if "injectHeaders" in secrets:
        merged["injectHeaders"] = secrets["injectHeaders"]
    return merged
