"""Every artifact a build already owns gets that build's label: the content type it was first
stored with (what downloads served until now)."""

from django.db import migrations


def label_owned(apps, schema_editor):
    Build = apps.get_model("releases", "Build")
    ArtifactLabel = apps.get_model("releases", "ArtifactLabel")
    Owned = Build.artifacts.through
    labels = [
        ArtifactLabel(build_id=row.build_id, artifact_id=row.artifact_id,
                      content_type=row.artifact.content_type)
        for row in Owned.objects.select_related("artifact").iterator(chunk_size=2000)
    ]
    ArtifactLabel.objects.bulk_create(labels, batch_size=2000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("releases", "0009_artifact_labels")]
    operations = [migrations.RunPython(label_owned, migrations.RunPython.noop)]
