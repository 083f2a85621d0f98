from django.db import models


class Artifact(models.Model):
    """A content-addressed blob (screenshot, log, config, diff), stored once per SHA-1.

    Which builds may read it is recorded on the build side (``releases.Build.artifacts``), so
    that this app knows nothing of releases."""

    sha1 = models.CharField(max_length=40, primary_key=True)
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    created = models.DateTimeField(auto_now_add=True)
    # When its bytes were last stored (uploaded again, written by a worker): retention leaves
    # an artifact alone for a grace period after, so an upload about to be used is never
    # collected (storage.py). Null: not stored since this field was added (``created`` counts).
    stored_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.sha1[:12]} ({self.content_type}, {self.size} bytes)"


class ArtifactDeletion(models.Model):
    """An artifact whose row is deleted and whose bytes are being deleted: an upload of the
    same bytes waits until the bytes are gone before it writes them again (storage.py). One
    left behind by a collection that was killed is finished by the next upload or collection
    once it is STALE."""

    sha1 = models.CharField(max_length=40, primary_key=True)
    started = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"deleting {self.sha1[:12]} since {self.started}"
