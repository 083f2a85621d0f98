"""URLs of the review UI's pages and artifacts, built in one place (templates never assemble
query strings by hand).

    {% load depicted %}
    {{ build|build_url }}  {% build_page "settings" build %}  {{ release|release_url }}
    {% run_url release run.name %}  {% artifact_url build run.image_id %}
"""

from urllib.parse import urlencode

from django import template
from django.urls import reverse

register = template.Library()


@register.filter
def build_url(build) -> str:
    return f"{reverse('build')}?{urlencode({'id': build.id})}"


@register.simple_tag
def build_page(name: str, build) -> str:
    """An owners' page of a build: settings, owners, api_keys, activity."""
    return f"{reverse(name)}?{urlencode({'build_id': build.id})}"


@register.filter
def release_url(release) -> str:
    return release.get_absolute_url()


@register.simple_tag
def run_url(release, run_name: str) -> str:
    return release.run_url(run_name)


@register.simple_tag
def artifact_url(build, sha1) -> str:
    """Where the browser fetches an artifact of ``build``; empty when there is none."""
    if not sha1:
        return ""
    return f"{reverse('api-download')}?{urlencode({'build_id': build.id, 'sha1sum': sha1})}"


@register.simple_tag(takes_context=True)
def login_url(context) -> str:
    """The login page, coming back here afterwards."""
    request = context.get("request")
    query = urlencode({"next": request.get_full_path()}) if request else ""
    return f"{reverse('login')}?{query}" if query else reverse("login")


@register.filter
def first_line(text) -> str:
    """The first line of a run's summary (what the release page's list shows)."""
    return str(text or "").split("\n", 1)[0]


@register.filter
def lines(text) -> list[str]:
    return [line for line in str(text or "").split("\n") if line]


@register.filter
def more_lines(text) -> int:
    """How many lines a run's summary has after its first."""
    return max(0, len(lines(text)) - 1)
