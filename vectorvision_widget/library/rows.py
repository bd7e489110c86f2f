"""Row mutations of a Library: add/replace one image, remove many, each all-or-nothing.

Rows live in capacity-doubling buffers (amortised O(1) appends; readers get views). Every
mutation first prepares everything it needs without touching the library (vectors checked and
normalised, record cleaned, buffers grown into new arrays, the compacted rows copied), then
commits with plain assignments; if anything interrupts the commit (Ctrl-C, an error) the
except-branch puts the previous state back. So records, paths, the path index and the
matrices always stay aligned, and an interrupted scan still saves a loadable library.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

import numpy as np

from vectorvision_widget.library.fields import clean_record
from vectorvision_widget.vectors import ZeroRowError, l2_normalise

__all__ = ["check_vector", "remove", "upsert"]

Lib = Any  # a library.Library (not imported: library imports this module)


def check_vector(lib: Lib, vec: Any, what: str, path: str, dim: int | None) -> np.ndarray:
    """One vector as a float32 unit row; ValueError naming the image if it cannot be one."""
    try:
        arr = np.asarray(vec, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        msg = f"{what} of {path!r} is not a list of numbers"
        raise ValueError(msg) from None
    if arr.size == 0 or not np.isfinite(arr).all():
        msg = f"{what} of {path!r} is empty or contains NaN/Inf"
        raise ValueError(msg)
    if dim is not None and arr.size != dim:
        key = "features" if what == "features" else "visualFeatures"
        name = lib.models.get(key, {}).get("name", "the library's model")
        msg = (
            f"{what} of {path!r} have {arr.size} values but this library holds {dim}-d "
            f"vectors ({name}); vectors from different models are never mixed: scan into a "
            "new library, or call lib.clear_vectors() and rescan with force=True"
        )
        raise ValueError(msg)
    try:
        return l2_normalise(arr, allow_zero=False, tolerance=1e-6, what=f"{what} of {path!r}")
    except ZeroRowError:
        msg = f"{what} of {path!r} is all zeros"
        raise ValueError(msg) from None


def _buffers(lib: Lib, df: int, dv: int, extra: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buffers with room for `extra` more rows and these dimensions: the library's own when
    they fit, else new ones (capacity doubled) holding a copy of the current rows."""
    feat, vis, has = lib._feat, lib._vis, lib._has_vis
    n, cap = lib._n, feat.shape[0]
    if n + extra <= cap and feat.shape[1] == df and vis.shape[1] == dv:
        return feat, vis, has
    new_cap = max(16, cap * 2) if n + extra > cap else cap
    nf = np.zeros((new_cap, df), np.float32)
    nv = np.zeros((new_cap, dv), np.float32)
    nh = np.zeros(new_cap, bool)
    if feat.shape[1] == df:
        nf[:n] = feat[:n]
    if vis.shape[1] == dv:
        nv[:n] = vis[:n]
        nh[:n] = has[:n]
    return nf, nv, nh


def upsert(lib: Lib, record: Mapping[str, Any], features: Any, visual: Any | None) -> int:
    """Add or replace one image; see Library.upsert."""
    if not isinstance(record, Mapping):
        msg = f"record must be a mapping with a 'path', got {type(record).__name__}"
        raise TypeError(msg)
    raw_path = record.get("path", "")
    path = os.fspath(raw_path) if isinstance(raw_path, (str, os.PathLike)) else raw_path
    if not isinstance(path, str) or not path:
        msg = f"record needs a non-empty 'path' string, got {raw_path!r}"
        raise ValueError(msg)
    f = check_vector(lib, features, "features", path, lib.feature_dim)
    v = (
        None
        if visual is None
        else check_vector(lib, visual, "visual features", path, lib.visual_dim)
    )
    rec = clean_record(record, path)
    row = lib._index.get(path)
    dv = v.size if v is not None else lib._vis.shape[1]
    if row is None:
        return _append(lib, path, rec, f, v, *_buffers(lib, f.size, dv, 1))
    return _replace(lib, row, rec, f, v, *_buffers(lib, f.size, dv, 0))


def _append(
    lib: Lib,
    path: str,
    rec: dict[str, Any],
    f: np.ndarray,
    v: np.ndarray | None,
    feat: np.ndarray,
    vis: np.ndarray,
    has: np.ndarray,
) -> int:
    row = lib._n
    feat[row] = f  # row n is past the end: invisible until the commit below
    if vis.shape[1]:
        vis[row] = 0.0 if v is None else v
    has[row] = v is not None
    try:
        lib._feat, lib._vis, lib._has_vis = feat, vis, has  # same rows [:n], more room
        lib._records.append(rec)
        lib._paths.append(path)
        lib._index[path] = row
        lib._n = row + 1
        lib.version += 1
    except BaseException:
        del lib._records[row:], lib._paths[row:]
        if lib._index.get(path) == row:
            del lib._index[path]
        lib._n = row
        raise
    return row


def _replace(
    lib: Lib,
    row: int,
    rec: dict[str, Any],
    f: np.ndarray,
    v: np.ndarray | None,
    feat: np.ndarray,
    vis: np.ndarray,
    has: np.ndarray,
) -> int:
    old = (lib._feat, lib._vis, lib._has_vis, lib._records[row])
    old_rows = (feat[row].copy(), vis[row].copy(), bool(has[row]))
    try:
        lib._feat, lib._vis, lib._has_vis = feat, vis, has
        feat[row] = f
        if vis.shape[1]:
            vis[row] = 0.0 if v is None else v
        has[row] = v is not None
        lib._records[row] = rec
        lib.version += 1
    except BaseException:
        feat[row], vis[row], has[row] = old_rows
        lib._feat, lib._vis, lib._has_vis, lib._records[row] = old
        raise
    return row


def remove(lib: Lib, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> int:
    """Remove many images in one pass; see Library.remove."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    index = lib._index
    gone = {os.fspath(p) for p in paths if isinstance(p, (str, os.PathLike))}
    rows = np.array(sorted(index[p] for p in gone if p in index), dtype=np.int64)
    if not rows.size:
        return 0
    n, first = lib._n, int(rows[0])
    keep = np.ones(n - first, dtype=bool)  # rows before `first` do not move
    keep[rows - first] = False
    m = first + int(keep.sum())
    mats = (lib._feat, lib._vis, lib._has_vis)
    kept = [a[first:n][keep] for a in mats]  # copies: the rows that move up
    dropped = [a[first:n][~keep] for a in mats]  # copies: to put back if interrupted
    survivors = np.flatnonzero(keep) + first
    if survivors.size:  # C-level gathers (itemgetter, dict(zip)): no Python loop per row
        get = itemgetter(*survivors.tolist())
        moved_r, moved_p = get(lib._records), get(lib._paths)
        if survivors.size == 1:
            moved_r, moved_p = (moved_r,), (moved_p,)
    else:
        moved_r, moved_p = (), ()
    records = lib._records[:first] + list(moved_r)
    new_paths = lib._paths[:first] + list(moved_p)
    new_index = dict(zip(new_paths, range(m), strict=True))
    old = (lib._records, lib._paths, lib._index)
    try:
        for a, k in zip(mats, kept, strict=True):
            a[first:m] = k
            a[m:n] = 0
        lib._records, lib._paths, lib._index, lib._n = records, new_paths, new_index, m
        lib.version += 1
    except BaseException:
        for a, k, d in zip(mats, kept, dropped, strict=True):
            a[first:n][keep] = k
            a[first:n][~keep] = d
        lib._records, lib._paths, lib._index = old
        lib._n = n
        raise
    return n - m
