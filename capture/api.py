"""/api/request_run: the server captures the page (and the reference) itself."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from releases import access
from releases.api import release_fields
from releases.api_params import (
    BranchField,
    NameField,
    ReleaseParams,
    build_for_request,
    params_of,
)

from . import config as capture_config
from . import services


class RequestRunParams(ReleaseParams):
    run_name = NameField(max_length=255)
    url = serializers.URLField(max_length=2048)
    config = serializers.CharField(required=False, allow_blank=True, default="{}")
    ref_url = serializers.URLField(max_length=2048, required=False, allow_blank=True, default="")
    ref_config = serializers.CharField(required=False, allow_blank=True, default="")
    branch = BranchField()
    base_branch = BranchField()

    def validate(self, data):
        if data["ref_config"] and not data["ref_url"]:
            raise serializers.ValidationError({"ref_url": ["required when ref_config is given"]})
        return data


def _config(field, text, url):
    try:
        config = capture_config.parse(text).with_target(url)
        capture_config.check_bounds(config, settings.CAPTURE_MAX_PIXELS)
        return config
    except capture_config.ConfigError as exc:
        raise exceptions.ValidationError({field: [str(exc)]}) from None


@extend_schema(request=RequestRunParams, summary="Capture a page (and its reference) and diff it")
@api_view(["POST"])
def request_run(request):
    params = params_of(RequestRunParams, request)
    build = build_for_request(request, params)
    # Both configs are checked before anything is stored or queued.
    config = _config("config", params["config"], params["url"])
    ref_config = (
        _config("ref_config", params["ref_config"], params["ref_url"])
        if params["ref_url"]
        else None
    )
    run = services.request_run(
        access.caller_for_request(request),
        build,
        release_name=params["release_name"],
        release_number=params["release_number"],
        run_name=params["run_name"],
        config=config,
        ref_config=ref_config,
        branch=params["branch"],
        base_branch=params["base_branch"],
    )
    return Response(
        {
            "success": True,
            **release_fields(run.release),
            "run_name": run.name,
            "url": run.url,
            "config": run.config_id,
            "ref_url": run.ref_url or None,
            "ref_config": run.ref_config_id,
        }
    )
