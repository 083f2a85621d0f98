"""Request body parsers of the API (settings.REST_FRAMEWORK; kept apart from the views, which
DRF imports only after its settings)."""

import re

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
