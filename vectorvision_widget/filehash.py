"""The one streaming file hash of the package: model files (manifest checks) and library files
(the content-based conflict check) are hashed the same way, 1 MiB at a time, so a 400 MB model
or a 6 GB library never sits in memory."""

from __future__ import annotations

import hashlib
import os

__all__ = ["CHUNK", "file_sha256"]

CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file's bytes, read in `CHUNK`-byte pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
