"""The widget's long tasks, each one :class:`~jobs.Job` on one thread: layout (SOM, trained on
the job's own thread), neighbour table, thumbnail atlases, search, colour search and rescan
(``scanning.rescan``, the CLI's). Results go back through the small :class:`MapHost`
interface the widget implements, so this module never touches traits itself; caches (layouts,
tables, hybrid candidates, tiles, sharp thumbnails) live here and are cleared on refresh.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

import vectorvision_widget.som.layout as layout
import vectorvision_widget.widget.mapdata as mapdata
from vectorvision_widget.modes import table_space
from vectorvision_widget.thumbs.cache import CachedSharp, CachedTiles
from vectorvision_widget.widget.finding import text_search
from vectorvision_widget.widget.jobs import Job, JobRunner

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders
    from vectorvision_widget.scanning.procedure import ScanReport

__all__ = ["MapHost", "MapWork", "name_search"]


class MapHost(Protocol):
    """What the work needs from the widget."""

    @property
    def library(self) -> Library: ...

    @property
    def data_version(self) -> int: ...

    def set_progress(self, key: str, value: Any) -> None: ...

    def show_error(self, text: str) -> None: ...

    def show_status(self, text: str) -> None: ...

    def push_cells(self, cells: np.ndarray, grid: tuple[int, int]) -> None: ...

    def push_table(self, idx: np.ndarray, scores: np.ndarray) -> None: ...

    def push_atlas(self, atlas: Any, version: int) -> None: ...

    def push_hits(
        self, rows: list[int], query: str, colour: str, total: int | None = None
    ) -> None: ...

    def scanned(self, report: ScanReport, saved_to: str | None) -> None: ...


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

            cells = mapdata.train_layout(X, grid, on_cells, job.cancel_event)
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

    def start_search(self, text: str, k: int, encoders: Encoders | None) -> None:
        lib, host = self._host.library, self._host

        def run(job: Job) -> None:
            hits, total = text_search(lib, text, k, encoders)  # total: how many match
            if not job.cancelled:
                host.push_hits(hits, text, "", total)

        self.runner.start("search", run)

    def start_colour(self, colour: str, k: int) -> None:
        lib, host = self._host.library, self._host

        def run(job: Job) -> None:
            hits = [r for r, _ in lib.by_colour(colour, k=k)]
            if not job.cancelled:
                host.push_hits(hits, "", colour)

        self.runner.start("colour", run)

    # ------------------------------------------------------------------ rescan

    def start_rescan(self, encoders: Encoders, roots: Sequence[str], force: bool) -> None:
        """``scanning.rescan`` of ``roots`` in a job (saved to ``lib.path`` under the writer
        lock when the library has one), then tell the host (which refreshes the map)."""
        lib, host = self._host.library, self._host

        def run(job: Job) -> None:
            from vectorvision_widget.scanning.rescan import rescan

            def on_progress(done: int, total: int, path: str) -> None:
                del path
                job.report([done, total])

            done = rescan(
                lib,
                encoders,
                roots,
                force=force,
                on_progress=on_progress,
                cancelled=lambda: job.cancelled,
                on_wait=host.show_status,
            )
            if done.error is not None:  # the work before it is saved; the job shows the error
                raise done.error
            report = done.report
            if report is not None and not job.cancelled:
                saved = None if done.saved is None else os.fspath(done.saved)
                host.scanned(report, saved)

        self.runner.start("scan", run, progress="scan", initial=[0, 0])


def name_search(lib: Library, text: str, k: int) -> list[int]:
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
