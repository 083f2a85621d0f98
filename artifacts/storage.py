"""The only module that touches the artifact storage backend.

Artifacts are keyed by the SHA-1 of their bytes: ``ab/abcdef...``. Bytes are written before the
database row that names them, and deleted after it (``forget``, for retention), so a row never
points at missing bytes; writing the same key twice writes the same bytes. Never call these
functions inside a transaction or while holding a row lock: storage may be a slow network
service.
"""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files import File
from django.core.files.storage import storages
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from .models import Artifact, ArtifactDeletion

CHUNK = 1024 * 1024

# What an unreachable or failing store (local disk, S3 and its network, the database that
# records the artifacts) raises: worth trying again later. Anything else is a bug or bad input.
TRANSIENT_ERRORS = (OSError, BotoCoreError, ClientError, OperationalError, InterfaceError)


class ArtifactMissing(LookupError):
    """The database names an artifact whose bytes the storage does not have."""


@dataclass(frozen=True)
class Stored:
    artifact: Artifact
    created: bool


def backend():
    return storages["artifacts"]


def key_for(sha1: str) -> str:
    return f"{sha1[:2]}/{sha1}"


def guess_content_type(filename: str | None) -> str:
    content_type, _ = mimetypes.guess_type(filename or "")
    return content_type or "application/octet-stream"


def store_file(fileobj, content_type: str) -> Stored:
    """Store a file-like object (read in chunks) and return its Artifact."""
    sha1 = hashlib.sha1(usedforsecurity=False)  # content addressing, as dpxdt named them
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=8 * CHUNK) as spool:
        for chunk in iter(lambda: fileobj.read(CHUNK), b""):
            sha1.update(chunk)
            size += len(chunk)
            spool.write(chunk)
        spool.seek(0)
        return _store(sha1.hexdigest(), size, content_type, spool)


def store_bytes(data: bytes, content_type: str) -> Stored:
    with tempfile.SpooledTemporaryFile(max_size=len(data) + 1) as spool:
        spool.write(data)
        spool.seek(0)
        sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        return _store(sha1, len(data), content_type, spool)


def _store(sha1: str, size: int, content_type: str, fileobj) -> Stored:
    """Bytes first, then the row. Against a collection deleting the same SHA-1 (``forget``):
    the row is touched first (``stored_at``), which a collection that has not yet deleted the
    row then sees (it leaves fresh artifacts alone); a row already deleted may still have bytes
    being deleted (an ArtifactDeletion): this waits until they are gone, then writes them."""
    storage = backend()
    key = key_for(sha1)
    for _ in range(100):  # each turn is a race lost to another writer: it settles at once
        if Artifact.objects.filter(sha1=sha1).update(stored_at=timezone.now()):
            if not storage.exists(key):  # missing even with a row: write the bytes again
                _save(storage, key, fileobj)
            existing = Artifact.objects.filter(sha1=sha1).first()
            if existing is not None:
                return Stored(existing, created=False)
            continue  # deleted since: its stored_at was old a moment ago; start over
        _wait_for_deletion(sha1)
        if not storage.exists(key):
            _save(storage, key, fileobj)
        try:
            with transaction.atomic():
                artifact = Artifact.objects.create(
                    sha1=sha1, content_type=content_type, size=size, stored_at=timezone.now()
                )
            return Stored(artifact, created=True)
        except IntegrityError:  # stored concurrently by another request: same bytes, same row
            continue
    raise RuntimeError(f"artifact {sha1}: could not store it (kept losing races)")


def _save(storage, key: str, fileobj) -> None:
    fileobj.seek(0)
    saved_as = storage.save(key, File(fileobj, name=key))
    if saved_as != key:  # a backend that renames on collision would break addressing
        storage.delete(saved_as)
        raise RuntimeError(f"artifact storage renamed {key} to {saved_as}")


class DeletionInProgress(OSError):
    """The bytes of this SHA-1 are being deleted right now; try again in a moment (transient:
    an OSError, as storage outages are)."""


# A deletion mark this old belongs to a collection that died between deleting the row and the
# bytes: whoever meets it next finishes the deletion (one storage delete takes seconds at most).
STALE_DELETION = timedelta(minutes=15)
DELETION_WAIT_SECONDS = 30


def _wait_for_deletion(sha1: str) -> None:
    deadline = time.monotonic() + DELETION_WAIT_SECONDS
    while ArtifactDeletion.objects.filter(sha1=sha1).exists():
        if _finish_stale_deletion(sha1):
            return
        if time.monotonic() > deadline:
            raise DeletionInProgress(f"artifact {sha1} is being deleted; try again")
        time.sleep(0.1)


def _finish_stale_deletion(sha1: str) -> bool:
    """Finish a deletion its collection left half done: the row is gone, the bytes may be
    there. Claimed by deleting the mark (one claimant wins). True if no mark is left."""
    claimed = ArtifactDeletion.objects.filter(
        sha1=sha1, started__lt=timezone.now() - STALE_DELETION
    ).delete()[0]
    if claimed and not Artifact.objects.filter(sha1=sha1).exists():
        backend().delete(key_for(sha1))
    return bool(claimed)


def forget(sha1: str, stored_before, in_use: Callable[[Artifact], bool]) -> int | None:
    """Delete an artifact nobody needs, safely against uploads of the same bytes. In one
    transaction, with its row locked: if it was stored before ``stored_before`` and
    ``in_use(artifact)`` (the caller's check of what refers to it, made under the lock; it may
    drop references that no longer count) says no, its deletion is marked and its row deleted.
    Then its bytes are deleted, then the mark. Returns the bytes freed, or None if kept.

    A process killed in between leaves a mark and perhaps the bytes, never a row without
    bytes; the next ``finish_interrupted`` (or an upload of the same bytes) completes it."""
    try:
        with transaction.atomic():
            artifact = Artifact.objects.select_for_update().filter(sha1=sha1).first()
            if artifact is None or (artifact.stored_at or artifact.created) >= stored_before:
                return None
            if in_use(artifact):
                return None
            ArtifactDeletion.objects.update_or_create(
                sha1=sha1, defaults={"started": timezone.now()}
            )
            # The row alone: ``in_use`` said nothing refers to it, and the database's foreign
            # keys refuse the delete (rolling it all back) should anything still do.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {connection.ops.quote_name(Artifact._meta.db_table)} "
                    "WHERE sha1 = %s",
                    [sha1],
                )
    except IntegrityError:
        return None
    backend().delete(key_for(sha1))
    ArtifactDeletion.objects.filter(sha1=sha1).delete()
    return artifact.size


def finish_interrupted() -> int:
    """Complete the deletions a killed collection left (marks older than STALE_DELETION)."""
    stale = ArtifactDeletion.objects.filter(started__lt=timezone.now() - STALE_DELETION)
    return sum(_finish_stale_deletion(sha1) for sha1 in stale.values_list("sha1", flat=True))


def open_artifact(sha1: str):
    """A binary file object for the artifact's bytes; the caller closes it."""
    try:
        return backend().open(key_for(sha1), "rb")
    except FileNotFoundError as exc:
        raise ArtifactMissing(f"artifact {sha1} has no stored bytes") from exc
    except Exception as exc:
        # S3 (botocore ClientError) reports a missing key by its error code.
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey"):
            raise ArtifactMissing(f"artifact {sha1} has no stored bytes") from exc
        raise


def read_bytes(sha1: str) -> bytes:
    with open_artifact(sha1) as handle:
        return handle.read()
