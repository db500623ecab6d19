"""The content-addressed store of landed extract files: OUT/raw/sha256/<ab>/<sha256>.

Ingest keeps the bytes of every file it loads here, named by their SHA-256, so a
re-landed file (the same name and date, other bytes) never destroys the version
first received. `raw.file_versions` says which load read which bytes; the audit
goes from a raw row's `_load_id`, date and file to `path_for(out, sha256)`.
Files are owner-only (they hold learner data) and never rewritten once present.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from cme.warehouse import private_dir

_BLOCK = 1 << 20


class StoreMismatch(RuntimeError):
    """The bytes copied into the store do not hash to what ingest hashed: the file
    changed between the two reads."""


def root(out: Path) -> Path:
    return Path(out) / "raw" / "sha256"


def path_for(out: Path, sha256: str) -> Path:
    """Where the file with this SHA-256 is (or would be) kept."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 hex digest")
    return root(out) / sha256[:2] / sha256


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def keep(out: Path, handle, sha256: str) -> Path:
    """Copy the open binary file `handle` (from its start) into the store under `sha256`,
    unless that content is already there. Streamed in 1 MiB blocks into a temporary
    file beside the target, hashed on the way, then renamed: a crash leaves no partial
    file under a real name. Raises StoreMismatch when the bytes read now are not the
    ones hashed before. Leaves `handle` at its start."""
    target = path_for(out, sha256)
    if target.exists():
        return target
    for folder in (Path(out) / "raw", root(out), target.parent):
        private_dir(folder)
    handle.seek(0)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{sha256[:8]}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as copy:  # mkstemp creates it 0600
            while block := handle.read(_BLOCK):
                digest.update(block)
                copy.write(block)
            copy.flush()
            os.fsync(copy.fileno())
        if digest.hexdigest() != sha256:
            raise StoreMismatch("the file changed while being read")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    finally:
        handle.seek(0)
    return target
