"""Data kept across migrations: builds made before the OKLab metric keep YIQ."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("releases", "0002_invitation")]
AFTER = [("releases", "0003_diff_metric_and_aligned_diff")]


def test_existing_builds_keep_yiq_and_new_builds_get_oklab():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    old_apps.get_model("releases", "Build").objects.create(name="Made in 2025")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new_apps = executor.loader.project_state(AFTER).apps
    Build = new_apps.get_model("releases", "Build")
    assert Build.objects.get(name="Made in 2025").diff_metric == "yiq"
    assert Build.objects.create(name="Made today").diff_metric == "oklab"

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest for other tests


def test_artifacts_owned_before_labels_get_their_builds_label():
    before = [("releases", "0009_artifact_labels")]
    after = [("releases", "0010_label_existing_artifacts")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    build = old.get_model("releases", "Build").objects.create(name="Old")
    artifact = old.get_model("artifacts", "Artifact").objects.create(
        sha1="ab" * 20, content_type="image/png", size=3
    )
    build.artifacts.add(artifact)

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    label = new.get_model("releases", "ArtifactLabel").objects.get()
    assert (label.build_id, label.artifact_id, label.content_type) == (
        build.id,
        "ab" * 20,
        "image/png",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
