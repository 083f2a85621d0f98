"""The capture config's value checks: each takes a key's name and value, returns the value
as it is kept, or raises ``ConfigError`` naming the key. ``capture.config`` says which check
each key gets. No Django here."""

from __future__ import annotations

import datetime
import json
import math
import re

import re2
import soupsieve

# The longest string a config key takes (injectJs, injectCss, ...), in characters.
MAX_TEXT = 1_000_000


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key."""


def _type_error(name, expected, value):
    return ConfigError(f"{name} must be {expected}, not {json.dumps(value)[:80]}")


def check_url(name, value):
    # http(s) only: a worker must never be pointed at its own files (file:) or other schemes.
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise _type_error(name, "an http(s) URL", value)
    return value


def boolean(name, value):
    if not isinstance(value, bool):
        raise _type_error(name, "true or false", value)
    return value


def text(name, value):
    if not isinstance(value, str):
        raise _type_error(name, "a string", value)
    if len(value) > MAX_TEXT:
        raise ConfigError(
            f"{name} is {len(value) / 1e6:.1f} MB: a config's text may be at most "
            f"{MAX_TEXT / 1e6:g} MB"
        )
    return value


def integer(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _type_error(name, "a non-negative integer", value)
    return value


def timeout(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 120000:
        raise _type_error(name, "an integer between 1000 and 120000", value)
    return value


def fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _type_error(name, "a number between 0 and 1", value)
    return value


def number(name, value):
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


def size(name, value):
    size = _dimensions(name, value, ("width", "height"), 1)
    if size["width"] > 10000 or size["height"] > 10000:
        raise ConfigError(f"{name} may be at most 10000x10000")
    return size


def height(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise _type_error(name, "an integer between 1 and 1000000", value)
    return value


def rect(name, value):
    return _dimensions(name, value, ("left", "top", "width", "height"), 1)


def strings(name, value):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _type_error(name, "a list of strings", value)
    return value


def selectors(name, value):
    for selector in strings(name, value):
        check_selector(name, selector)
    return value


def selector(name, value):
    return check_selector(name, text(name, value))


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


def line(name, value):
    value = text(name, value)
    if _CONTROL_OR_TAB.search(value):
        raise ConfigError(f"{name} must not contain control characters (CR, LF, NUL, ...)")
    return value


def locale(name, value):
    if not _BCP47.fullmatch(text(name, value)):
        raise _type_error(name, "a BCP 47 language tag such as en-GB", value)
    return value


def timezone(name, value):
    import zoneinfo

    # "localtime" is the host's own zone file, not a zone: Chromium refuses it.
    if text(name, value) not in zoneinfo.available_timezones() - {"localtime"}:
        raise _type_error(name, "an IANA time zone such as Europe/Paris", value)
    return value


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is ours to report, not absl's to print


def compile_regex(pattern: str):
    """An RE2 regex: matching takes time linear in the URL, whatever the pattern (a Python
    regex such as ``(a+)+b`` can take minutes). Raises re2.error."""
    return re2.compile(pattern, _RE2_OPTIONS)


def regexes(name, value):
    for pattern in strings(name, value):
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


def headers(name, value):
    if not isinstance(value, dict):
        raise _type_error(name, "an object of URL regex → {header: value}", value)
    for pattern, headers in value.items():
        regexes(name, [pattern])
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


def cookies(name, value):
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
