"""`lib.where`: the rows whose folder, date, camera, tags, keywords or GPS match a filter.

Fast at 100k images because each field becomes a column once per library version (the
`FilterColumns` a library holds): paths sorted (a folder is a contiguous range: two bisections),
`taken` as seconds, cameras as integer codes, an inverted index of keyword labels; tags, which
change without the rest, are indexed per `version`, everything else per `rows_version`. A query is
then a few numpy comparisons and set lookups.

Dates compare by the wall-clock time the camera recorded (`taken` without its UTC offset): a
photo taken at 23:30 on 14 July in Sydney is a photo of 14 July, as a person would file it.
"""

from __future__ import annotations

import bisect
import calendar
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorvision_widget.library.queries import QueryCache

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library

__all__ = ["FILTER_KEYS", "FilterColumns", "taken_seconds", "where"]

#: The arguments of `lib.where` (and the keys of the widget's `w.filter`).
FILTER_KEYS = ("folder", "taken", "camera", "tags", "keywords", "has_gps")
_EPOCH = datetime(1970, 1, 1)
_DAY_END = time(23, 59, 59, 999999)


def taken_seconds(value: object) -> float:
    """A record's `taken` (ISO 8601 text) as wall-clock seconds since 1970 (offset ignored);
    NaN when absent or unreadable."""
    if not isinstance(value, str):
        return float("nan")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return float("nan")
    return (when.replace(tzinfo=None) - _EPOCH).total_seconds()


def _bound(value: object, end: bool) -> float | None:
    """One end of `taken` as wall-clock seconds: a date (or "2023", "2023-07", "2023-07-14")
    covers its whole period, so an end bound is the period's last instant."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) - _EPOCH).total_seconds()
    if isinstance(value, date):
        when = datetime.combine(value, _DAY_END if end else time())
        return (when - _EPOCH).total_seconds()
    if isinstance(value, str):
        return _text_bound(value.strip(), end)
    msg = (
        f"taken bounds must be dates, datetimes, ISO 8601 strings or None, got "
        f"{type(value).__name__} {value!r}"
    )
    raise ValueError(msg)


def _text_bound(text: str, end: bool) -> float:
    parts = text.split("-")
    try:
        if len(text) == 4 and text.isdigit():  # a year
            year = int(text)
            first, last = datetime(year, 1, 1), datetime(year, 12, 31)
        elif len(text) == 7 and len(parts) == 2 and all(p.isdigit() for p in parts):  # a month
            year, month = int(parts[0]), int(parts[1])
            first = datetime(year, month, 1)
            last = datetime(year, month, calendar.monthrange(year, month)[1])
        elif len(text) == 10:  # a day
            first = last = datetime.fromisoformat(text)
        else:
            first = last = datetime.fromisoformat(text).replace(tzinfo=None)
            return (first - _EPOCH).total_seconds()  # an instant: the same as start or end
    except ValueError:
        msg = (
            f"cannot read the date {text!r}: use ISO 8601 such as '2023', '2023-07', "
            "'2023-07-14' or '2023-07-14T18:03:21'"
        )
        raise ValueError(msg) from None
    when = datetime.combine(last.date(), _DAY_END) if end else first
    return (when - _EPOCH).total_seconds()


def _names(value: object, what: str) -> list[str]:
    """A str or an iterable of non-empty str, as a list (empty: no constraint)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, (bytes, dict)):
        msg = f"{what} must be a string or a list of strings, got {type(value).__name__} {value!r}"
        raise ValueError(msg)
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            msg = f"{what} must hold non-empty strings, got {item!r}"
            raise ValueError(msg)
        out.append(item.strip())
    return out


def _folders(value: object) -> list[str]:
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(items, Iterable) or isinstance(items, (bytes, dict)):
        msg = f"folder must be a path or a list of paths, got {type(value).__name__} {value!r}"
        raise ValueError(msg)
    out = []
    for item in items:
        path = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        if not isinstance(path, str) or not path:
            msg = f"folder must hold non-empty paths, got {item!r}"
            raise ValueError(msg)
        out.append(os.path.normpath(os.path.abspath(os.path.expanduser(path))))
    return out


@dataclass(frozen=True)
class _Sorted:
    """Paths in sorted order and the row of each: a folder's files are one contiguous run."""

    paths: list[str]
    rows: np.ndarray


@dataclass(frozen=True)
class _Meta:
    taken: np.ndarray  #: (N,) float64 wall-clock seconds, NaN without a date
    camera: np.ndarray  #: (N,) int32 code into `cameras`, -1 without a camera
    cameras: dict[str, int]  #: casefolded camera name -> code
    has_gps: np.ndarray  #: (N,) bool


def _index(rows_of: Iterable[tuple[int, Iterable[str]]]) -> dict[str, np.ndarray]:
    """name -> sorted int64 rows holding it."""
    lists: dict[str, list[int]] = {}
    for row, names in rows_of:
        for name in names:
            lists.setdefault(name, []).append(row)
    return {k: np.array(v, dtype=np.int64) for k, v in lists.items()}


class FilterColumns:
    """The columns `where` reads, built on first use and rebuilt after the library changes."""

    def __init__(self) -> None:
        self._rows = QueryCache()  # keyed by lib.rows_version: paths, metadata, keywords
        self._tags = QueryCache()  # keyed by lib.version: tags change on their own

    def sorted_paths(self, lib: Library) -> _Sorted:
        def make() -> _Sorted:
            order = sorted(range(len(lib)), key=lib.paths.__getitem__)
            return _Sorted([lib.paths[i] for i in order], np.array(order, dtype=np.int64))

        return self._rows.get(lib.rows_version, "paths", make)

    def meta(self, lib: Library) -> _Meta:
        def make() -> _Meta:
            recs = lib.records
            cameras: dict[str, int] = {}
            codes = np.full(len(recs), -1, np.int32)
            for i, rec in enumerate(recs):
                cam = rec.get("camera")
                if isinstance(cam, str) and cam.strip():
                    codes[i] = cameras.setdefault(cam.strip().casefold(), len(cameras))
            seconds = (taken_seconds(r.get("taken")) for r in recs)
            taken = np.fromiter(seconds, np.float64, len(recs))
            gps = np.fromiter((r.get("gps") is not None for r in recs), bool, len(recs))
            return _Meta(taken, codes, cameras, gps)

        return self._rows.get(lib.rows_version, "meta", make)

    def keywords(self, lib: Library) -> dict[str, np.ndarray]:
        def make() -> dict[str, np.ndarray]:
            return _index(
                (i, {kw["label"].casefold() for kw in rec.get("keywords") or ()})
                for i, rec in enumerate(lib.records)
            )

        return self._rows.get(lib.rows_version, "keywords", make)

    def tags(self, lib: Library) -> dict[str, np.ndarray]:
        def make() -> dict[str, np.ndarray]:
            return _index((i, rec.get("tags") or ()) for i, rec in enumerate(lib.records))

        return self._tags.get(lib.version, "tags", make)


def _any_of(n: int, index: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    mask = np.zeros(n, bool)
    for name in names:
        rows = index.get(name)
        if rows is not None:
            mask[rows] = True
    return mask


def where(
    lib: Library,
    columns: FilterColumns,
    folder: Any = None,
    taken: Any = None,
    camera: Any = None,
    tags: Any = None,
    keywords: Any = None,
    has_gps: Any = None,
) -> list[int]:
    """Rows matching every given argument (see `Library.where`), ascending."""
    n = len(lib)
    checks: list[np.ndarray] = []
    folders = _folders(folder) if folder is not None else []
    if taken is not None:
        if not isinstance(taken, (tuple, list)) or len(taken) != 2:
            msg = f"taken must be a (start, end) pair (either may be None), got {taken!r}"
            raise ValueError(msg)
        start, end = _bound(taken[0], end=False), _bound(taken[1], end=True)
        if start is not None and end is not None and start > end:
            msg = f"taken: the start {taken[0]!r} is after the end {taken[1]!r}"
            raise ValueError(msg)
    cameras = _names(camera, "camera") if camera is not None else []
    tag_names = _names(tags, "tags") if tags is not None else []
    labels = _names(keywords, "keywords") if keywords is not None else []
    if has_gps is not None and not isinstance(has_gps, (bool, np.bool_)):
        msg = f"has_gps must be True, False or None, got {has_gps!r}"
        raise ValueError(msg)
    if folders:
        mask = np.zeros(n, bool)
        by_path = columns.sorted_paths(lib)
        for f in folders:
            base = f.rstrip(os.sep)  # "" for the root "/"
            # the paths below f are the run from f + sep up to (not incl.) f + the next character
            lo = bisect.bisect_left(by_path.paths, base + os.sep)
            hi = bisect.bisect_left(by_path.paths, base + chr(ord(os.sep) + 1))
            mask[by_path.rows[lo:hi]] = True
            i = bisect.bisect_left(by_path.paths, f)  # a file given as the "folder": itself
            if i < len(by_path.paths) and by_path.paths[i] == f:
                mask[by_path.rows[i]] = True
        checks.append(mask)
    if taken is not None or cameras or has_gps is not None:
        meta = columns.meta(lib)
        if taken is not None:
            t = meta.taken
            mask = ~np.isnan(t)
            if start is not None:
                mask &= t >= start
            if end is not None:
                mask &= t <= end
            checks.append(mask)
        if cameras:
            codes = [meta.cameras[c.casefold()] for c in cameras if c.casefold() in meta.cameras]
            checks.append(np.isin(meta.camera, np.array(codes, np.int32)))
        if has_gps is not None:
            checks.append(meta.has_gps if has_gps else ~meta.has_gps)
    if tag_names:
        checks.append(_any_of(n, columns.tags(lib), tag_names))
    if labels:
        checks.append(_any_of(n, columns.keywords(lib), [x.casefold() for x in labels]))
    if not checks:
        return list(range(n))
    result = checks[0].copy()
    for mask in checks[1:]:
        result &= mask
    rows: list[int] = np.flatnonzero(result).tolist()
    return rows
