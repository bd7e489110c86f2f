"""Refreshing photo metadata without re-embedding (`vectorvision scan --refresh-metadata`).

A library made before the scan read EXIF (or by an older reader) gains `taken`, `camera`, `gps`,
`width` and `height` for changed files on the next rescan; `refresh_metadata` re-reads them for
the unchanged files too, from each file's header only (no pixels decoded, no models run).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from vectorvision_widget.images.decode import ImageDecodeError, file_metadata
from vectorvision_widget.scanning.plan import resolve_root, under

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library

__all__ = ["refresh_metadata"]


def refresh_metadata(
    lib: Library, folder: str | os.PathLike[str], *, progress: bool = False
) -> int:
    """Re-read the metadata of the images of `lib` under `folder` whose file is unchanged (same
    size and mtime as its record; a changed one is the next scan's to re-embed); returns how
    many records changed. Unreadable or vanished files are skipped (the scan reports them)."""
    from tqdm.auto import tqdm

    root = resolve_root(folder)
    todo = [p for p in lib.paths if under(p, root)]
    updates: dict[Any, dict[str, Any]] = {}
    for path in tqdm(todo, unit="img", desc="metadata", disable=not progress):
        row = lib.row_of(path)
        if row is None:
            continue
        rec = lib.records[row]
        try:
            st = os.stat(path)
            if rec.get("size") != st.st_size or rec.get("mtime") != float(st.st_mtime):
                continue
            updates[row] = file_metadata(path)
        except (ImageDecodeError, OSError):
            continue
    return lib.update_fields(updates)
