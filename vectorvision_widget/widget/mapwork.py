"""The widget's long tasks, each a :class:`~jobs.Job`: layout (SOM), neighbour table, thumbnail
atlases, search, colour search and rescan. Results go back through the small :class:`MapHost`
interface the widget implements, so this module never touches traits itself; caches (layouts,
tables, hybrid candidates, tiles, sharp thumbnails) live here and are cleared on refresh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import vectorvision_widget.som.layout as layout
import vectorvision_widget.widget.mapdata as mapdata
from vectorvision_widget.modes import table_space
from vectorvision_widget.thumbs.cache import CachedSharp, CachedTiles
from vectorvision_widget.widget.jobs import Job, JobRunner

__all__ = ["MapHost", "MapWork", "name_search"]


class MapHost(Protocol):
    """What the work needs from the widget."""

    @property
    def library(self) -> Any: ...

    @property
    def data_version(self) -> int: ...

    def set_progress(self, key: str, value: Any) -> None: ...

    def show_error(self, text: str) -> None: ...

    def show_status(self, text: str) -> None: ...

    def push_cells(self, cells: np.ndarray, grid: tuple[int, int]) -> None: ...

    def push_table(self, idx: np.ndarray, scores: np.ndarray) -> None: ...

    def push_atlas(self, atlas: Any, version: int) -> None: ...

    def push_hits(self, rows: list[int], query: str, colour: str) -> None: ...

    def scanned(self, report: Any, saved_to: str | None) -> None: ...


class MapWork:
    """Starts, caches and cancels the widget's background work."""

    def __init__(self, host: MapHost) -> None:
        self._host = host
        self.runner = JobRunner(host.set_progress, host.show_error)
        self.layouts: dict[tuple[Any, ...], tuple[np.ndarray, tuple[int, int]]] = {}
        self.tables: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}
        self.atlases: list[Any] = []
        self._thumbs_for: Any = None
        self._thumb_caches()

    def _thumb_caches(self) -> None:
        """Tiles and tooltip thumbnails, read from the scan's ``library.thumbs/`` beside the
        library file when it has one (no decoding), else decoded and cached in memory."""
        path = getattr(self._host.library, "path", None)
        if path != self._thumbs_for or not hasattr(self, "tiles"):
            self.tiles, self.sharp = CachedTiles(path), CachedSharp(path)
            self._thumbs_for = path

    def clear(self) -> None:
        """Forget everything computed for the previous library state and stop its jobs (a
        running rescan goes on: it refreshes the map again when it ends)."""
        self.runner.cancel_all(keep=("scan",))
        self._thumb_caches()  # the library may have a file now (first save)
        self.layouts.clear()
        self.tables.clear()
        self.atlases = []

    # ------------------------------------------------------------------ layout

    def start_layout(self, mode: str, weight: float) -> None:
        if mode == "custom":
            return
        key = (mode, round(weight, 3) if mode == "hybrid" else None)
        cached = self.layouts.get(key)
        if cached is not None:
            self.runner.cancel("layout")
            self._host.push_cells(*cached)
            return
        lib, host = self._host.library, self._host
        grid = layout.default_grid_shape(len(lib))

        def run(job: Job) -> None:
            X, _note = mapdata.mode_vectors(lib, mode, weight)  # banner: see widget

            def on_cells(cells: np.ndarray, epoch: int, n_epochs: int) -> None:
                if not job.cancelled:
                    host.push_cells(cells, grid)
                    job.report([epoch, n_epochs])

            cells = mapdata.train_layout(X, grid, on_cells, job)
            if not job.cancelled:
                self.layouts[key] = (cells, grid)
                host.push_cells(cells, grid)

        self.runner.start("layout", run, progress="som", initial=[0, 1])

    # ------------------------------------------------------------------ neighbour table

    def table_key(self, mode: str, weight: float, k: int) -> tuple[Any, ...]:
        space = table_space(mode)
        return (space, round(weight, 3) if space == "hybrid" else None, k)

    def start_table(self, mode: str, weight: float, k: int) -> None:
        key = self.table_key(mode, weight, k)
        cached = self.tables.get(key)
        if cached is not None:
            self.runner.cancel("table")
            self._host.push_table(*cached)
            self._host.set_progress("table", "ready")
            return
        lib, host = self._host.library, self._host
        space, w, k = key

        def run(job: Job) -> None:
            weight_ = 0.5 if w is None else w  # 0.0 is a weight (meaning only), not "unset"
            idx, scores, _note = mapdata.neighbours(lib, space, weight_, k)
            if not job.cancelled:
                self.tables[key] = (idx, scores)
                host.push_table(idx, scores)
                job.final = "ready"

        self.runner.start("table", run, progress="table", initial="computing")

    # ------------------------------------------------------------------ thumbnails

    def start_thumbnails(self, size: int) -> None:
        lib, host = self._host.library, self._host
        paths = list(lib.paths)
        colours = [r.get("color") for r in lib.records]
        version = host.data_version
        self.atlases = []

        def run(job: Job) -> None:
            safe, bad = mapdata.safe_paths(paths)
            if bad:  # those rows get a placeholder; the others still get thumbnails
                host.show_error("thumbnails: " + mapdata.describe_bad(bad, paths))
            done = 0
            for atlas, _failed in self.tiles.build_atlases(
                safe, colours, size, cancelled=lambda: job.cancelled
            ):
                if job.cancelled or version != host.data_version:
                    return
                self.atlases.append(atlas)
                host.push_atlas(atlas, version)
                done += atlas.count
                job.report([done, len(paths)])

        self.runner.start("thumbs", run, progress="thumbs", initial=[0, len(paths)])

    # ------------------------------------------------------------------ search

    def start_search(self, text: str, k: int, encoders: Any) -> None:
        lib, host = self._host.library, self._host

        def run(job: Job) -> None:
            if encoders is not None:
                hits = [r for r, _ in lib.search(text, encoders=encoders, k=k)]
            else:
                hits = name_search(lib, text, k)
            if not job.cancelled:
                host.push_hits(hits, text, "")

        self.runner.start("search", run)

    def start_colour(self, colour: str, k: int) -> None:
        lib, host = self._host.library, self._host

        def run(job: Job) -> None:
            hits = [r for r, _ in lib.by_colour(colour, k=k)]
            if not job.cancelled:
                host.push_hits(hits, "", colour)

        self.runner.start("colour", run)

    # ------------------------------------------------------------------ rescan

    def start_rescan(self, encoders: Any, roots: Sequence[str], force: bool) -> None:
        """Scan every root (incremental unless ``force``), save to ``lib.path`` when the library
        has one, then tell the host (which refreshes the map)."""
        lib, host = self._host.library, self._host

        def run(job: Job) -> None:
            from vectorvision_widget.scanning.engines import scan

            def on_progress(*args: Any, **kwargs: Any) -> None:
                job.report(list(_progress_numbers(args, kwargs)))

            path = getattr(lib, "path", None)
            reports = []
            with _writer_lock(lib, path, host):
                for root in roots:
                    if job.cancelled:
                        break
                    report = scan(
                        root,
                        lib,
                        encoders=encoders,
                        force=force,
                        progress=False,
                        on_progress=on_progress,
                    )
                    reports.append(report)
                saved = None
                if path and reports:  # the work done is kept even when the job was cancelled
                    saved = os.fspath(lib.save() or path)
            if reports and not job.cancelled:
                host.scanned(_merge(reports), saved)

        self.runner.start("scan", run, progress="scan", initial=[0, 0])


def _writer_lock(lib: Any, path: Any, host: MapHost) -> AbstractContextManager[Any]:
    """The library file's lock for the whole rescan (one writer per file), when it has a file."""
    if not path or not hasattr(lib, "lock"):
        return contextlib.nullcontext()
    return lib.lock(on_wait=host.show_status)


def _merge(reports: list[Any]) -> Any:
    """One report for several roots: lists concatenated, counts summed, flags or-ed."""
    if len(reports) == 1:
        return reports[0]
    first = reports[0]
    merged = dataclasses.replace(first, folder=", ".join(r.folder for r in reports))
    for name in ("added", "updated", "removed", "failed"):
        setattr(merged, name, [x for r in reports for x in getattr(r, name)])
    merged.unchanged = sum(r.unchanged for r in reports)
    merged.interrupted = any(r.interrupted for r in reports)
    merged.offline = any(r.offline for r in reports)
    return merged


def _progress_numbers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, int]:
    """(done, total) from whatever the analyzer's on_progress passes (ints or an object)."""
    nums = [a for a in args if isinstance(a, int | float)]
    if len(nums) >= 2:
        return int(nums[0]), int(nums[1])
    for obj in (*args, kwargs):
        get = obj.get if isinstance(obj, dict) else lambda k, o=obj: getattr(o, k, None)
        done, total = get("done"), get("total")
        if done is not None and total is not None:
            return int(done), int(total)
    return 0, 0


def name_search(lib: Any, text: str, k: int) -> list[int]:
    """Without encoders: rows whose file name or keywords contain every word of ``text``."""
    words = text.lower().split()
    hits = []
    for row, rec in enumerate(lib.records):
        labels = " ".join(
            kw.get("label", "") if isinstance(kw, dict) else str(kw)
            for kw in rec.get("keywords") or []
        )
        hay = f"{Path(rec.get('path', '')).name} {labels}".lower()
        if all(w in hay for w in words):
            hits.append(row)
            if len(hits) >= k:
                break
    return hits
