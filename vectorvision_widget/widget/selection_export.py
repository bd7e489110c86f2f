"""Export: copy or link original image files into a folder (``w.export_selection``).

Never moves, overwrites or deletes anything: each file is created exclusively (``open(...,
"xb")`` for a copy, ``os.symlink`` for a link, both fail rather than replace), and a name that
is taken gets a suffix (``cat.jpg``, ``cat_1.jpg``, ...). A missing or unreadable original is
reported and skipped; the others are still written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["EXPORT_MODES", "ExportResult", "export_files"]

EXPORT_MODES = ("copy", "link")
_MAX_SUFFIX = 10_000


@dataclass
class ExportResult:
    """What an export wrote (``written``, in input order) and what it could not (``problems``:
    (original path, reason) pairs)."""

    written: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def _check_mode(mode: object) -> Literal["copy", "link"]:
    if mode == "copy":
        return "copy"
    if mode == "link":
        return "link"
    msg = f"export: mode must be 'copy' or 'link', got {mode!r}"
    raise ValueError(msg)


def _folder(folder: str | os.PathLike[str]) -> Path:
    value: object = folder  # checked at run time: callers may pass anything
    if not isinstance(value, str | os.PathLike):
        msg = f"export: folder must be a path, got {type(value).__name__}"
        raise TypeError(msg)
    dest = Path(folder).expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        msg = f"export: {os.fspath(dest)!r} exists and is not a folder; choose a folder"
        raise NotADirectoryError(msg)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def _candidates(dest: Path, name: str) -> Iterable[Path]:
    """``dest/name``, then ``dest/stem_1.ext``, ``dest/stem_2.ext``, ..."""
    yield dest / name
    p = Path(name)
    for i in range(1, _MAX_SUFFIX):
        yield dest / f"{p.stem}_{i}{p.suffix}"


def _problem(src: str) -> str | None:
    """Why ``src`` cannot be exported (None: it can)."""
    try:
        if not os.path.lexists(src):
            return "missing"
        if not os.path.isfile(src):
            return "not a regular file"
        if not os.access(src, os.R_OK):
            return "not readable"
    except (OSError, ValueError) as err:  # a NUL byte, a name the OS refuses
        return f"invalid path ({err})"
    return None


def _write_one(src: str, target: Path, mode: str) -> None:
    """Create ``target`` from ``src``; FileExistsError when it is taken (nothing changes)."""
    if mode == "link":
        os.symlink(os.path.abspath(src), target)
        return
    with open(src, "rb") as fin, open(target, "xb") as fout:
        try:
            shutil.copyfileobj(fin, fout)
        except BaseException:
            fout.close()
            target.unlink(missing_ok=True)  # our own half-written file, never an original
            raise
    shutil.copystat(src, target)


def export_files(
    paths: Iterable[str], folder: str | os.PathLike[str], mode: str = "copy"
) -> ExportResult:
    """Copy (``mode="copy"``) or symlink (``"link"``) each of ``paths`` into ``folder`` (created
    if missing), under its own file name or a free suffixed one. ValueError for another mode,
    NotADirectoryError when ``folder`` is a file; per-file problems go to ``result.problems``."""
    how = _check_mode(mode)
    dest = _folder(folder)
    result = ExportResult()
    for src in paths:
        problem = _problem(src)
        if problem is not None:
            result.problems.append((src, problem))
            continue
        for target in _candidates(dest, Path(src).name):
            try:
                _write_one(src, target, how)
            except FileExistsError:
                continue
            except OSError as err:
                result.problems.append((src, f"{type(err).__name__}: {err}"))
            else:
                result.written.append(target)
            break
        else:
            result.problems.append((src, f"no free name in {_MAX_SUFFIX} tries"))
    return result
