from django.db import models


class Artifact(models.Model):
    """A content-addressed blob (screenshot, log, config, diff), stored once per SHA-1.

    Which builds may read it is recorded on the build side (``releases.Build.artifacts``), so
    that this app knows nothing of releases."""

    sha1 = models.CharField(max_length=40, primary_key=True)
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.sha1[:12]} ({self.content_type}, {self.size} bytes)"
