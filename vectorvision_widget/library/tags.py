"""Tags: names a person gives images (`lib.tag`, `lib.untag`, `lib.tagged`).

Stored per record as ``"tags": [str]`` (unique, in the order given; the key is absent when an
image has none), saved in the library file and kept by rescans (a changed file that is
re-embedded keeps its tags). A tag change bumps `lib.version` but not `lib.rows_version`, so
neighbour tables and other caches of vectors survive it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorvision_widget.library.fields import tag_name

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library

__all__ = ["retag", "rows_of", "tag_names", "with_tags"]


def _one_row(lib: Library, item: object) -> int:
    n = len(lib)
    if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
        if not 0 <= item < n:
            msg = f"row {item!r} is out of range for a library of {n} images"
            raise IndexError(msg)
        return int(item)
    if isinstance(item, (str, os.PathLike)):
        row = lib.row_of(item)
        if row is None:
            msg = f"{os.fspath(item)!r} is not in the library"
            raise KeyError(msg)
        return row
    msg = f"expected a row number or a path, got {type(item).__name__} {item!r}"
    raise TypeError(msg)


def rows_of(lib: Library, rows_or_paths: object) -> list[int]:
    """Rows of a row, a path, or an iterable of rows and/or paths (a numpy array of rows too),
    unique, in the order given. IndexError / KeyError for an unknown one, before any change."""
    if isinstance(rows_or_paths, (str, os.PathLike, int, np.integer)):
        return [_one_row(lib, rows_or_paths)]
    if not isinstance(rows_or_paths, Iterable) or isinstance(rows_or_paths, (bytes, dict)):
        msg = (
            "expected a row, a path, or a list of rows or paths, got "
            f"{type(rows_or_paths).__name__}"
        )
        raise TypeError(msg)
    items = rows_or_paths.tolist() if isinstance(rows_or_paths, np.ndarray) else rows_or_paths
    return list(dict.fromkeys(_one_row(lib, item) for item in items))


def tag_names(names: tuple[object, ...]) -> list[str]:
    """The names given to tag/untag, checked (non-empty strings) and unique."""
    if not names:
        msg = "give at least one tag name: lib.tag(rows, 'holiday')"
        raise ValueError(msg)
    return list(dict.fromkeys(tag_name(name) for name in names))


def with_tags(record: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    """A copy of `record` holding `tags` (no "tags" key when there are none)."""
    out = {k: v for k, v in record.items() if k != "tags"}
    if tags:
        out["tags"] = tags
    return out


def retag(
    lib: Library, rows: list[int], add: list[str], remove: list[str]
) -> dict[int, dict[str, Any]]:
    """The new records of the rows whose tags change (add `add`, drop `remove`)."""
    gone = set(remove)
    changed: dict[int, dict[str, Any]] = {}
    for row in rows:
        rec = lib.records[row]
        old = list(rec.get("tags") or ())
        new = [t for t in dict.fromkeys([*old, *add]) if t not in gone]
        if new != old:
            changed[row] = with_tags(rec, new)
    return changed
