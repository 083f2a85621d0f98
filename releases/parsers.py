"""Request body parsers of the API (settings.REST_FRAMEWORK; kept apart from the views, which
DRF imports only after its settings), and what a body too big for them is told."""

import json
import re
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a body nested too deeply for Python's parser as a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser; a field over DATA_UPLOAD_MAX_MEMORY_SIZE is named: the stream is
    watched for each part's name as Django reads it, and the one being read when Django gives
    up is the field too big (``RequestDataTooBig.field``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        watched = _PartNames(stream)
        try:
            return super().parse(watched, media_type, parser_context)
        except RequestDataTooBig as exc:
            exc.field = watched.last  # type: ignore[attr-defined]
            raise


_PART_NAME = re.compile(rb'content-disposition:[^\r\n]*?\bname="([^"\r\n]{1,200})"', re.IGNORECASE)


class _PartNames:
    """A stream that remembers the name of the last multipart part that began in it."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None
        self.tail = b""

    def read(self, *args):
        data = self.stream.read(*args)
        seen = self.tail + data
        for match in _PART_NAME.finditer(seen):
            self.last = match.group(1).decode("utf-8", "replace")
        self.tail = seen[-300:]
        return data

    def __getattr__(self, name):
        return getattr(self.stream, name)


# How much of a form body over DATA_UPLOAD_MAX_MEMORY_SIZE is read to say which field is too big.
TOO_BIG_SCAN_BYTES = 64 * 1024 * 1024


def too_big(request, field: str | None) -> str:
    """What is too big in a body Django refused (DATA_UPLOAD_MAX_MEMORY_SIZE). Multipart: the
    field being read when Django gave up (MultiPartParser above). A urlencoded form: the largest
    field, and in a config field its largest key, read from the body (up to
    TOO_BIG_SCAN_BYTES), since Django refuses it before reading it."""
    limit = f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1e6:.1f} MB"
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        what = field or "the request's form fields"
        return f"{what} is over the limit: a request's fields may be at most {limit}"
    body = request._request.read(TOO_BIG_SCAN_BYTES)
    fields = dict(parse_qsl(body.decode("ascii", "replace")))
    if not fields:
        return f"the request's body is over the limit of {limit}"
    name = max(fields, key=lambda field: len(fields[field]))
    what = name
    if name in ("config", "ref_config"):
        try:
            config = json.loads(fields[name])
        except (ValueError, RecursionError):
            config = None  # not JSON: the field itself is named
        if isinstance(config, dict) and config:
            what = f"{name}.{max(config, key=lambda key: len(json.dumps(config[key])))}"
    size = len(fields[name]) / 1e6
    return f"{what} is {size:.1f} MB: a request may be at most {limit}"
