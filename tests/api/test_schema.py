import yaml


def test_openapi_schema_lists_every_endpoint(client):
    response = client.get("/api/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = set(schema["paths"])
    for endpoint in [
        "create_release",
        "find_run",
        "upload",
        "report_run",
        "runs_done",
        "release_status",
        "mark_release",
        "download",
    ]:
        assert f"/api/{endpoint}" in paths
