"""Planning a scan: which files to embed, which records to remove, which folders are offline.

The incremental rules live here, once, for every engine: a file whose size and mtime match its
record (and whose record has visual features) is not touched; changed files are re-embedded;
`force=True` re-analyses everything. Offline is not deleted: a missing root, an unreadable
subfolder or a dangling symlink keeps its records and is reported as a kept `Failure`; only files
really gone from a readable folder are removed.
"""

from __future__ import annotations

import os
import stat as stat_module
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vectorvision_widget.scanning.files import Failure, FileStat, shown, storable
from vectorvision_widget.scanning.walk import WalkProblem, has_image_extension, iter_image_files

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders

__all__ = ["ScanPlan", "plan_scan", "resolve_root", "under"]


@dataclass
class ScanPlan:
    """What a scan of one root will do (see `plan_scan`)."""

    root: str
    found: dict[str, FileStat]  #: every image file present, with its size and mtime
    embed: list[str]  #: files to (re-)embed, in walk order
    remove: list[str]  #: records of files really gone from a readable folder
    failed: list[Failure]  #: offline root, unreadable folders, dangling links (records kept)
    kept: list[str]  #: path prefixes whose records are kept although not found (offline)
    unchanged: int
    offline: bool
    walk_s: float


def under(path: str, root: str) -> bool:
    """Is `path` the folder `root` or inside it (by name, no file system access)?"""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_root(folder: str | os.PathLike[str]) -> str:
    """The absolute, normalised root name (normpath, not resolve(): "a/../photos" and "photos/"
    are one root, while a root reached through a symlink keeps the name the user gave it)."""
    return os.path.normpath(Path(folder).expanduser().absolute())


def _is_unchanged(lib: Library, path: str, st: FileStat) -> bool:
    row = lib.row_of(path)
    if row is None or not lib.has_visual[row]:
        return False
    rec = lib.records[row]
    return rec.get("size") == st.size and rec.get("mtime") == st.mtime


def _offline_root(root: str, lib: Library) -> str | None:
    """Why `root` is offline (missing, unreadable, or an empty mount point that held images)."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return "folder not found (an unmounted drive, or renamed?)"
    except OSError as exc:
        return f"folder cannot be read ({exc.strerror or exc})"
    if not stat_module.S_ISDIR(st.st_mode):
        return "not a folder"
    try:
        with os.scandir(root) as it:
            empty = next(iter(it), None) is None
    except OSError as exc:
        return f"folder cannot be read ({exc.strerror or exc})"
    if empty and os.path.ismount(root) is False and any(under(p, root) for p in lib.paths):
        parent_dev = os.stat(os.path.dirname(root) or root).st_dev
        if parent_dev == st.st_dev:  # an empty folder on the parent's drive: a mount point?
            return "folder is empty (an unmounted drive?)"
    return None


def plan_scan(
    folder: str | os.PathLike[str], lib: Library, *, encoders: Encoders, force: bool = False
) -> ScanPlan:
    """Decide what a scan of `folder` does, with the incremental rules of the module docstring.

    Registers the encoders' models (raises `ModelMismatchError` for a library of other model
    files unless `force=True`) and the root in `lib`; changes no record. A missing or unreadable
    root that the library knows (in `lib.roots` or with records under it) gives an offline plan
    (nothing to embed or remove, one failure); an unknown one raises NotADirectoryError.
    """
    t0 = time.perf_counter()
    root = resolve_root(folder)
    known = root in lib.roots or any(under(p, root) for p in lib.paths)
    why = _offline_root(root, lib)
    if why is not None and not known:
        if why == "not a folder":
            msg = f"cannot scan {root}: not an existing folder"
        else:
            msg = f"cannot scan {root}: {why.split(' (')[0]}"
        raise NotADirectoryError(msg)
    lib.set_models(encoders.provenance(), replace=force)
    if root not in lib.roots and storable(root) is None:  # else its files fail one by one
        lib.roots.append(root)
    if why is not None:
        n = sum(under(p, root) for p in lib.paths)
        error = (
            f"{why}; offline: its {n} records are kept (remove them with lib.remove(...) "
            "or `vectorvision scan --prune`)"
        )
        return ScanPlan(
            root=root,
            found={},
            embed=[],
            remove=[],
            failed=[Failure(shown(root), error, kept=True)],
            kept=[root],
            unchanged=0,
            offline=True,
            walk_s=time.perf_counter() - t0,
        )
    problems: list[WalkProblem] = []
    found: dict[str, FileStat] = {}
    for p in iter_image_files(root, problems.append):
        try:
            found[str(p)] = FileStat.of(p.stat())
        except OSError:
            continue
    kept = [pr.path for pr in problems]
    failed = []
    for pr in problems:
        n = sum(under(p, pr.path) for p in lib.paths)
        if pr.kind == "unreadable" or has_image_extension(pr.path) or n:
            note = f"; {n} records kept" if n and pr.kind == "dangling" else ""
            failed.append(Failure(shown(pr.path), pr.error + note, kept=True))
    gone = [
        p
        for p in lib.paths
        if under(p, root) and p not in found and not any(under(p, k) for k in kept)
    ]
    embed = [p for p, st in found.items() if force or not _is_unchanged(lib, p, st)]
    return ScanPlan(
        root=root,
        found=found,
        embed=embed,
        remove=gone,
        failed=failed,
        kept=kept,
        unchanged=len(found) - len(embed),
        offline=False,
        walk_s=time.perf_counter() - t0,
    )
