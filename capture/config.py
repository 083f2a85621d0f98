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
import datetime
import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

import re2
import soupsieve

WAIT_UNTIL = ("load", "domcontentloaded", "networkidle", "commit")
# Full-page captures are cut at this height (CSS pixels) unless a config says otherwise.
DEFAULT_MAX_HEIGHT = 32768
# The server's DPXDT_CAPTURE_MAX_PIXELS default: width x height x scale^2 of one screenshot.
DEFAULT_MAX_PIXELS = 60_000_000
COLOR_SCHEMES = ("light", "dark", "no-preference")
# The longest string a config key takes (injectJs, injectCss, ...), in characters.
MAX_TEXT = 1_000_000


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key."""


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


# --- value checks ---------------------------------------------------------------------------


def _type_error(name, expected, value):
    return ConfigError(f"{name} must be {expected}, not {json.dumps(value)[:80]}")


def check_url(name, value):
    # http(s) only: a worker must never be pointed at its own files (file:) or other schemes.
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise _type_error(name, "an http(s) URL", value)
    return value


def _bool(name, value):
    if not isinstance(value, bool):
        raise _type_error(name, "true or false", value)
    return value


def _str(name, value):
    if not isinstance(value, str):
        raise _type_error(name, "a string", value)
    if len(value) > MAX_TEXT:
        raise ConfigError(
            f"{name} is {len(value) / 1e6:.1f} MB: a config's text may be at most "
            f"{MAX_TEXT / 1e6:g} MB"
        )
    return value


def _int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _type_error(name, "a non-negative integer", value)
    return value


def _timeout(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 120000:
        raise _type_error(name, "an integer between 1000 and 120000", value)
    return value


def _fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _type_error(name, "a number between 0 and 1", value)
    return value


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 8:
        raise _type_error(name, "a number between 0 and 8", value)
    return value


def _dimensions(name, value, fields, minimum):
    if (
        not isinstance(value, dict)
        or set(value) - set(fields)
        or not set(fields[-2:]) <= set(value)
    ):
        raise _type_error(name, "an object with " + ", ".join(fields), value)
    checked = {}
    for field in fields:
        number = value.get(field, 0)
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
            raise ConfigError(f"{name}.{field} must be a non-negative number")
        checked[field] = int(number)
    if checked[fields[-2]] < minimum or checked[fields[-1]] < minimum:
        raise ConfigError(f"{name} width and height must be at least {minimum}")
    return checked


def _size(name, value):
    size = _dimensions(name, value, ("width", "height"), 1)
    if size["width"] > 10000 or size["height"] > 10000:
        raise ConfigError(f"{name} may be at most 10000x10000")
    return size


def _height(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise _type_error(name, "an integer between 1 and 1000000", value)
    return value


def _rect(name, value):
    return _dimensions(name, value, ("left", "top", "width", "height"), 1)


def _strings(name, value):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _type_error(name, "a list of strings", value)
    return value


def _selectors(name, value):
    for selector in _strings(name, value):
        check_selector(name, selector)
    return value


def _selector(name, value):
    return check_selector(name, _str(name, value))


def check_selector(name: str, selector: str) -> str:
    """A CSS selector the browser can use, checked by soupsieve's parser (the same grammar),
    so that a typo is a 400 at request time, not a capture that fails three times. A
    pseudo-element (``p::before``) is refused too: ``querySelectorAll`` never matches one."""
    try:
        soupsieve.compile(selector)
    except (soupsieve.SelectorSyntaxError, NotImplementedError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{name}: {selector!r} is not a valid CSS selector ({first})") from None
    return selector


# Control characters: none may be in a header value, a user agent or a cookie (CR and LF would
# start a new header; NUL ends the string in the browser). HTAB is allowed in a header value
# only.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_OR_TAB = re.compile(r"[\x00-\x1f\x7f]")
# RFC 9110 5.6.2: a header name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 5646 2.1, the langtag production (and a private-use tag alone), case-insensitive.
_BCP47 = re.compile(
    r"(?:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})"
    r"(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"
    r"(?:-[a-wyz0-9](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?"
    r"|x(?:-[a-z0-9]{1,8})+)",
    re.IGNORECASE,
)
# A cookie's domain: a host name (its labels; a leading dot as Set-Cookie allows) or an address.
_DOMAIN = re.compile(r"\.?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_-]+\.?")
# The latest expiry a cookie may name (the last second of 9999); -1 is a session cookie.
_LAST_EXPIRY = 253402300799


def _line(name, value):
    value = _str(name, value)
    if _CONTROL_OR_TAB.search(value):
        raise ConfigError(f"{name} must not contain control characters (CR, LF, NUL, ...)")
    return value


def _locale(name, value):
    if not _BCP47.fullmatch(_str(name, value)):
        raise _type_error(name, "a BCP 47 language tag such as en-GB", value)
    return value


def _timezone(name, value):
    import zoneinfo

    # "localtime" is the host's own zone file, not a zone: Chromium refuses it.
    if _str(name, value) not in zoneinfo.available_timezones() - {"localtime"}:
        raise _type_error(name, "an IANA time zone such as Europe/Paris", value)
    return value


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is ours to report, not absl's to print


def compile_regex(pattern: str):
    """An RE2 regex: matching takes time linear in the URL, whatever the pattern (a Python
    regex such as ``(a+)+b`` can take minutes). Raises re2.error."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _regexes(name, value):
    for pattern in _strings(name, value):
        try:
            compile_regex(pattern)
        except re2.error as exc:
            reason = (
                exc.args[0].decode(errors="replace")
                if exc.args and isinstance(exc.args[0], bytes)
                else str(exc)
            )
            raise ConfigError(
                f"{name}: {pattern!r} is not a valid RE2 regex ({reason}); "
                "lookaround and backreferences are not supported"
            ) from None
    return value


def _headers(name, value):
    if not isinstance(value, dict):
        raise _type_error(name, "an object of URL regex → {header: value}", value)
    for pattern, headers in value.items():
        _regexes(name, [pattern])
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError(f"{name}[{pattern!r}] must be an object of header name → string")
        for header, text in headers.items():
            if not _TOKEN.fullmatch(header):
                raise ConfigError(
                    f"{name}[{pattern!r}]: {header!r} is not a header name (RFC 9110: letters, "
                    "digits and !#$%&'*+-.^_`|~, no spaces)"
                )
            if _CONTROL.search(text):
                raise ConfigError(
                    f"{name}[{pattern!r}][{header!r}]: a header value must not contain control "
                    "characters (CR, LF, NUL, ...)"
                )
    return value


_SAME_SITE = ("Strict", "Lax", "None")


def _cookies(name, value):
    """Every field checked here, so a bad cookie is a 400 at request_run, not three failed
    captures later. ``expires`` (or PhantomJS's ``expiry``) may be a date; it is stored as
    seconds since 1970."""
    if not isinstance(value, list):
        raise _type_error(name, "a list of cookie objects", value)
    checks = {
        "name": lambda v: isinstance(v, str) and _cookie_text(v) and not set("= ") & set(v),
        "value": lambda v: (
            (isinstance(v, str) and _cookie_text(v))
            or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
        ),
        "domain": lambda v: isinstance(v, str) and bool(_DOMAIN.fullmatch(v)),
        "path": lambda v: isinstance(v, str) and v.startswith("/") and _cookie_text(v),
        "secure": lambda v: isinstance(v, bool),
        "httponly": lambda v: isinstance(v, bool),
        "httpOnly": lambda v: isinstance(v, bool),
        "sameSite": lambda v: v in _SAME_SITE,
        "url": lambda v: isinstance(v, str) and re.match(r"^https?://[^/\s]+", v) is not None,
    }
    expected = {
        "name": "a non-empty string without ;, =, spaces or control characters",
        "value": "a string without ; or control characters",
        "domain": "a host name",
        "path": "a path starting with /, without ; or control characters",
        "secure": "true or false",
        "httponly": "true or false",
        "httpOnly": "true or false",
        "sameSite": "Strict, Lax or None",
        "url": "an http(s) URL",
    }
    cookies = []
    for index, cookie in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(cookie, dict) or not {"name", "value"} <= set(cookie):
            raise ConfigError(f"{where} must be an object with name and value")
        extra = set(cookie) - set(checks) - {"expires", "expiry"}
        if extra:
            raise ConfigError(f"{where} has unknown fields: {', '.join(sorted(extra))}")
        for field, ok in checks.items():
            if field in cookie and not ok(cookie[field]):
                raise _type_error(f"{where}.{field}", expected[field], cookie[field])
        cookie = dict(cookie)
        for field in ("expires", "expiry"):
            if field in cookie:
                cookie[field] = _expires(f"{where}.{field}", cookie[field])
        cookies.append(cookie)
    return cookies


def _cookie_text(text: str) -> bool:
    return text != "" and ";" not in text and not _CONTROL_OR_TAB.search(text)


def _expires(name, value) -> float:
    """Seconds since 1970 from a number or a date string (RFC 1123 as in Set-Cookie, ISO 8601;
    a date without a zone is UTC), -1 (a session cookie) up to the end of the year 9999."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (value == -1 or 0 <= value <= _LAST_EXPIRY):
            raise _type_error(name, f"-1 or seconds since 1970 up to {_LAST_EXPIRY}", value)
        return float(value)
    if isinstance(value, str):
        from dateutil import parser as dateparser  # python-dateutil: every format in use

        try:
            moment = dateparser.parse(value)
        except (ValueError, OverflowError):
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            if 0 <= moment.timestamp() <= _LAST_EXPIRY:
                return moment.timestamp()
    raise _type_error(name, "seconds since 1970 or a date from 1970 to 9999", value)


def _choice(name, value):
    options = BY_NAME[name].kind.split(":", 1)[1].split(",")
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}, not {json.dumps(value)}")
    return value


_CHECKS = {
    "url": check_url,
    "timeout": _timeout,
    "height": _height,
    "fraction": _fraction,
    "bool": _bool,
    "str": _str,
    "line": _line,
    "locale": _locale,
    "timezone": _timezone,
    "selector": _selector,
    "int": _int,
    "number": _number,
    "size": _size,
    "rect": _rect,
    "strings": _strings,
    "selectors": _selectors,
    "regexes": _regexes,
    "headers": _headers,
    "cookies": _cookies,
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
