"""What ``dpxdt test DIR`` found changed, kept for ``dpxdt review DIR``: the new capture of each
changed test, its diff, and (once accepted) the reference it replaced, so that accepting can be
undone. It lives in DIR/.dpxdt/ (add it to .gitignore). No Django, no server.

Accepting writes the new reference atomically (a temporary file beside it, then a rename), so a
reference is always either the old image or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

STATE = ".dpxdt"
MANIFEST = "last-test.json"


@dataclass
class Changed:
    """One changed test of the last ``dpxdt test``."""

    slug: str
    suite: str
    name: str
    reference: Path
    message: str
    log: dict | None


def slug_of(suite: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{suite}-{name}").strip("._") or "test"


def layout_of(image: Path) -> Path:
    """The layout map kept beside an image (NAME.layout.json.gz)."""
    return image.with_name(image.stem + ".layout.json.gz")


class Store:
    def __init__(self, directory: Path):
        self.root = directory / STATE
        self.pending = self.root / "pending"
        self.undo = self.root / "undo"

    # --- written by dpxdt test ----------------------------------------------------------------
    def reset(self) -> None:
        """A new test run: what an earlier one found is forgotten (its undo copies too)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def add(self, changed: Changed, png: bytes, layout: bytes | None, images: dict) -> None:
        self.pending.mkdir(parents=True, exist_ok=True)
        (self.pending / f"{changed.slug}.png").write_bytes(png)
        if layout:
            (self.pending / f"{changed.slug}.layout.json.gz").write_bytes(layout)
        for side, data in images.items():  # the diff and aligned diff, for the report
            (self.pending / f"{changed.slug}.{side}.png").write_bytes(data)
        entries = self._read()
        entries.append(
            {
                "slug": changed.slug,
                "suite": changed.suite,
                "name": changed.name,
                "reference": str(changed.reference),
                "message": changed.message,
                "log": changed.log,
            }
        )
        (self.root / MANIFEST).write_text(json.dumps({"tests": entries}, default=str))

    # --- read by dpxdt review -----------------------------------------------------------------
    def changed(self) -> list[Changed]:
        return [
            Changed(e["slug"], e["suite"], e["name"], Path(e["reference"]), e["message"], e["log"])
            for e in self._read()
        ]

    def _read(self) -> list[dict]:
        try:
            return json.loads((self.root / MANIFEST).read_text())["tests"]
        except FileNotFoundError:
            return []

    def image(self, slug: str, side: str = "") -> bytes | None:
        path = self.pending / (f"{slug}.{side}.png" if side else f"{slug}.png")
        return path.read_bytes() if path.exists() else None

    def accepted(self, slug: str) -> bool:
        return (self.undo / f"{slug}.png").exists() or (self.undo / f"{slug}.none").exists()

    def original(self, changed: Changed) -> bytes:
        """What the test was compared with (its branch's reference, or its base's)."""
        return self.image(changed.slug, "before") or changed.reference.read_bytes()

    def accept(self, changed: Changed) -> bool:
        """The new capture becomes the reference; the old one (or the fact there was none: a
        branch's first) is kept for undo. False if it already was accepted."""
        if self.accepted(changed.slug):
            return False
        self.undo.mkdir(parents=True, exist_ok=True)
        reference, layout = changed.reference, layout_of(changed.reference)
        new_layout = self.pending / f"{changed.slug}.layout.json.gz"
        if layout.exists():
            shutil.copyfile(layout, self.undo / f"{changed.slug}.layout.json.gz")
        # The undo copy is what "accepted" means: made before anything is replaced.
        if reference.exists():
            shutil.copyfile(reference, self.undo / f"{changed.slug}.part")
            os.replace(self.undo / f"{changed.slug}.part", self.undo / f"{changed.slug}.png")
        else:
            (self.undo / f"{changed.slug}.none").touch()
            reference.parent.mkdir(parents=True, exist_ok=True)
        _replace(reference, (self.pending / f"{changed.slug}.png").read_bytes())
        _replace(layout, new_layout.read_bytes() if new_layout.exists() else None)
        return True

    def revert(self, changed: Changed) -> bool:
        """Undo an accept: the previous reference (and its layout map) back, or none if there
        was none. False if there was nothing to undo."""
        kept, absent = self.undo / f"{changed.slug}.png", self.undo / f"{changed.slug}.none"
        if not kept.exists() and not absent.exists():
            return False
        kept_layout = self.undo / f"{changed.slug}.layout.json.gz"
        _replace(changed.reference, kept.read_bytes() if kept.exists() else None)
        _replace(
            layout_of(changed.reference), kept_layout.read_bytes() if kept_layout.exists() else None
        )
        kept_layout.unlink(missing_ok=True)
        kept.unlink(missing_ok=True)
        absent.unlink(missing_ok=True)
        return True


def _replace(path: Path, data: bytes | None) -> None:
    """``path`` holds ``data`` (None: no file), switched in one rename."""
    if data is None:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_name(f".{path.name}.dpxdt-part")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
