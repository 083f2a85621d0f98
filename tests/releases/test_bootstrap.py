import json
from io import StringIO

from django.core.management import call_command
from django.test import RequestFactory

from releases.models import ApiKey, Build


def bootstrap(*args):
    out = StringIO()
    call_command("dpxdt_bootstrap", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_bootstrap_creates_user_build_and_working_key(db, client):
    data = bootstrap()
    assert set(data) == {"build_id", "api_key", "api_secret", "username", "password"}
    build = Build.objects.get(pk=data["build_id"])
    assert build.owners.filter(username="admin").exists()
    assert ApiKey.objects.get(pk=data["api_key"]).check_secret(data["api_secret"])
    assert client.login(
        request=RequestFactory().post("/login"), username="admin", password=data["password"]
    )


def test_bootstrap_again_reuses_user_and_build(db):
    first = bootstrap()
    second = bootstrap()
    assert second["build_id"] == first["build_id"]
    assert "password" not in second
    assert second["api_key"] != first["api_key"]
    other = bootstrap("--build", "Mobile")
    assert other["build_id"] != first["build_id"]
    assert Build.objects.get(pk=other["build_id"]).name == "Mobile"
