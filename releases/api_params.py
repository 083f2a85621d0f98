"""The API's parameters: each endpoint's fields, checked as dpxdt named them (a release or run
name without control characters, a SHA-1, a branch name)."""

from __future__ import annotations

import unicodedata

from rest_framework import serializers

from . import access
from .models import BRANCH_NAME, Release


# Content types an artifact may be shown as in a browser; anything else is a download.
class NameField(serializers.CharField):
    """A release or run name: printable text. A newline or another control character would
    break the e-mails, logs and pages that show it (the original dropped such e-mails). Not
    trimmed either: a trailing newline is refused, not quietly dropped."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        bad = next(
            (ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")), None
        )
        if bad is not None:
            raise serializers.ValidationError(
                f"must not contain control characters (found U+{ord(bad):04X})"
            )
        return value


class BuildParams(serializers.Serializer):
    build_id = serializers.IntegerField(min_value=1)


class ReleaseParams(BuildParams):
    release_name = NameField(max_length=255)
    release_number = serializers.IntegerField(min_value=1)


class BranchField(serializers.RegexField):
    """A git branch name as CI systems give it (no spaces or control characters)."""

    def __init__(self, **kwargs):
        super().__init__(
            BRANCH_NAME,
            required=False,
            allow_blank=True,
            default="",
            error_messages={"invalid": "not a branch name"},
            **kwargs,
        )


class CreateReleaseParams(BuildParams):
    release_name = NameField(max_length=255)
    url = serializers.URLField(max_length=2048, required=False, allow_blank=True, default="")
    branch = BranchField()
    base_branch = BranchField()
    commit_sha = serializers.RegexField(
        r"^[0-9a-fA-F]{7,64}$", required=False, allow_blank=True, default=""
    )


class FindRunParams(BuildParams):
    run_name = NameField(max_length=255)
    branch = BranchField()
    base_branch = BranchField()


class Sha1Field(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(
            r"^[0-9a-fA-F]{40}$",
            required=False,
            allow_blank=True,
            default="",
            error_messages={"invalid": "must be a 40-character SHA-1 hex digest"},
            **kwargs,
        )


class ReportRunParams(ReleaseParams):
    run_name = NameField(max_length=255)
    url = serializers.URLField(max_length=2048, required=False, allow_blank=True, default="")
    ref_url = serializers.URLField(max_length=2048, required=False, allow_blank=True, default="")
    image = Sha1Field()
    log = Sha1Field()
    config = Sha1Field()
    ref_image = Sha1Field()
    ref_log = Sha1Field()
    ref_config = Sha1Field()
    diff_image = Sha1Field()
    diff_log = Sha1Field()
    # Layout maps (capture.layout) of the two screenshots: with both, the diff names causes.
    layout = Sha1Field()
    ref_layout = Sha1Field()
    run_failed = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=10000
    )
    diff_failed = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=10000
    )
    distortion = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0, max_value=1.0
    )


class MarkReleaseParams(ReleaseParams):
    status = serializers.ChoiceField(choices=[Release.Status.GOOD, Release.Status.BAD])


class DownloadParams(BuildParams):
    sha1sum = serializers.RegexField(r"^[0-9a-fA-F]{40}$")


def params_of(serializer_class, request):
    data = request.query_params.dict() if request.method == "GET" else request.data
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def build_for_request(request, params, *, act=True):
    return access.build_for(access.caller_for_request(request), params["build_id"], act=act)
