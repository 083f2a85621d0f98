"""The only module that touches the artifact storage backend.

Artifacts are keyed by the SHA-1 of their bytes: ``ab/abcdef...``. Bytes are written before the
database row that names them, so a row never points at missing bytes; writing the same key
twice writes the same bytes. Never call these functions inside a transaction or while holding a
row lock: storage may be a slow network service.
"""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files import File
from django.core.files.storage import storages
from django.db import IntegrityError, InterfaceError, OperationalError, transaction

from .models import Artifact

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
    sha1 = hashlib.sha1()
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
        return _store(hashlib.sha1(data).hexdigest(), len(data), content_type, spool)


def _store(sha1: str, size: int, content_type: str, fileobj) -> Stored:
    existing = Artifact.objects.filter(sha1=sha1).first()
    storage = backend()
    key = key_for(sha1)
    if not storage.exists(key):  # missing even with a row: write the bytes again
        saved_as = storage.save(key, File(fileobj, name=key))
        if saved_as != key:  # a backend that renames on collision would break addressing
            storage.delete(saved_as)
            raise RuntimeError(f"artifact storage renamed {key} to {saved_as}")
    if existing is not None:
        return Stored(existing, created=False)
    try:
        with transaction.atomic():
            artifact = Artifact.objects.create(sha1=sha1, content_type=content_type, size=size)
        return Stored(artifact, created=True)
    except IntegrityError:  # stored concurrently by another request: same bytes, same row
        return Stored(Artifact.objects.get(sha1=sha1), created=False)


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
