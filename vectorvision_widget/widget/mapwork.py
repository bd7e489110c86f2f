"""The widget's long tasks, each one :class:`~jobs.Job` on one thread: layout (SOM, trained on
the job's own thread), neighbour table, thumbnail atlases, search, colour search and rescan
(``scanning.rescan``, the CLI's). Results go back through the small :class:`MapHost`
interface the widget implements, so this module never touches traits itself; caches (layouts,
tables, hybrid candidates, tiles, sharp thumbnails) live here and are cleared on refresh.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

import vectorvision_widget.som.layout as layout
import vectorvision_widget.widget.mapdata as mapdata
from vectorvision_widget.modes import table_space
from vectorvision_widget.thumbs.cache import CachedSharp, CachedTiles
from vectorvision_widget.thumbs.tiles import ATLAS_COLS
from vectorvision_widget.widget.finding import text_search
from vectorvision_widget.widget.increments import Changes
from vectorvision_widget.widget.jobs import Job, JobRunner

if TYPE_CHECKING:
    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders
    from vectorvision_widget.scanning.procedure import ScanReport

__all__ = ["MapHost", "MapWork", "name_search"]

Weights = Callable[[], np.ndarray]
"""A layout's display weights (rows, cols, D), computed on the first call."""


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
        # the SOM layout on screen: (key, cells, grid, weights); warm starts and incremental
        # placement start from it, so it outlives clear() (with the paths it was made for).
        # Weights are functions: a dense map computes its display weights on first use
        self.shown: tuple[tuple[Any, ...], np.ndarray, tuple[int, int], Weights] | None = None
        self.shown_paths: list[str] = []
        self._weights: dict[tuple[Any, ...], Weights] = {}
        self.tables: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}
        # what each table / the atlases were made from (paths; table vectors' source), so an
        # incremental refresh (clear(changes)) can update them rather than redo them
        self._table_made: dict[tuple[Any, ...], tuple[list[str], str]] = {}
        self.atlases: list[Any] = []
        self._atlases_made: tuple[list[str], int] | None = None
        self.changes: Changes | None = None
        self._old_tables: dict[tuple[Any, ...], tuple[str, np.ndarray, np.ndarray]] = {}
        self._old_atlases: tuple[list[Any], int] = ([], 0)
        self._thumbs_for: Any = None
        self._thumb_caches()

    def _thumb_caches(self) -> None:
        """Tiles and tooltip thumbnails, read from the scan's ``library.thumbs/`` beside the
        library file when it has one (no decoding), else decoded and cached in memory."""
        path = getattr(self._host.library, "path", None)
        if path != self._thumbs_for or not hasattr(self, "tiles"):
            self.tiles, self.sharp = CachedTiles(path), CachedSharp(path)
            self._thumbs_for = path

    def clear(self, changes: Changes | None = None) -> None:
        """Forget everything computed for the previous library state and stop its jobs (a
        running rescan goes on: it refreshes the map again when it ends). With ``changes``
        (an incremental refresh) the tables and atlases made for ``changes.old_paths`` stay
        as the base that :meth:`start_table` and :meth:`start_thumbnails` update."""
        self.runner.cancel_all(keep=("scan",))
        self._thumb_caches()  # the library may have a file now (first save)
        self.layouts.clear()  # self.shown stays: place_rescanned starts from it
        self._weights.clear()
        self.changes = changes
        self._old_tables, self._old_atlases = {}, ([], 0)
        if changes is not None:
            old = changes.old_paths
            for key, (paths, source) in self._table_made.items():
                if paths == old and key in self.tables:
                    self._old_tables[key] = (source, *self.tables[key])
            if self._atlases_made is not None and self._atlases_made[0] == old:
                self._old_atlases = (list(self.atlases), self._atlases_made[1])
            self.sharp.forget(changes.changed)  # cached by path: these files changed
        self.tables.clear()
        self._table_made.clear()
        self.atlases = []
        self._atlases_made = None

    # ------------------------------------------------------------------ layout

    def start_layout(self, mode: str, weight: float) -> None:
        """Show the layout for ``mode`` (and hybrid ``weight``): cached, else a job. A change
        while a map of the same rows is on screen warm-starts from it (``som.warm_layout``):
        images stay near their places and the browser animates them there (see _morphs)."""
        if mode == "custom":
            return
        key = (mode, round(weight, 3) if mode == "hybrid" else None)
        cached = self.layouts.get(key)
        lib, host = self._host.library, self._host
        grid = layout.map_grid_shape(len(lib))
        paths = list(lib.paths)
        shown = self.shown if self.shown_paths == paths else None
        if cached is not None:
            self.runner.cancel("layout")
            self._host.push_cells(*cached)
            if shown is not None and shown[0] != key and key in self._weights:
                self.shown = (key, cached[0], cached[1], self._weights[key])
            return
        warm = (
            shown[1] if shown is not None and _morphs(shown[0][0], mode, shown[2], grid) else None
        )

        def run(job: Job) -> None:
            X, _note = mapdata.mode_vectors(lib, mode, weight)  # banner: see widget

            def on_cells(cells: np.ndarray, epoch: int, n_epochs: int) -> None:
                if not job.cancelled:
                    host.push_cells(cells, grid)
                    job.report([epoch, n_epochs])

            cells, weights = mapdata.train_layout(
                X, grid, on_cells, job.cancel_event, warm_from=warm
            )
            if not job.cancelled:
                self.layouts[key] = (cells, grid)
                if weights is not None:
                    self._weights[key] = weights
                    self.shown, self.shown_paths = (key, cells, grid, weights), paths
                host.push_cells(cells, grid)

        self.runner.start("layout", run, progress="som", initial=[0, 1])

    def place_rescanned(
        self, old_paths: Sequence[str], changed: Collection[str], mode: str, weight: float
    ) -> bool:
        """After an incremental rescan (call after :meth:`clear`): put new and ``changed``
        images (paths) into the map that was on screen for ``old_paths`` at the nearest free
        cells of their best-matching units, keep every other image's cell, and push the cells;
        nothing changed, nothing moves. No training. Returns False when there is no such map
        (another mode, a custom layout, vectors of another dimension): start a layout then."""
        key = (mode, round(weight, 3) if mode == "hybrid" else None)
        shown = self.shown
        if shown is None or shown[0] != key or list(old_paths) != self.shown_paths:
            return False
        lib = self._host.library
        weights = shown[3]()
        placed = mapdata.placed_rows(
            lib, mode, weight, (self.shown_paths, shown[1], weights), set(changed)
        )
        if placed is None:
            return False
        cells, grid = placed
        if grid != shown[2]:  # the grid grew: new rows/cols copy the edge weights
            r, c = grid[0] - weights.shape[0], grid[1] - weights.shape[1]
            weights = np.pad(weights, ((0, r), (0, c), (0, 0)), mode="edge")
        self.runner.cancel("layout")
        self.layouts[key] = (cells, grid)
        self._weights = {key: _ready(weights)}
        self.shown, self.shown_paths = (key, cells, grid, self._weights[key]), list(lib.paths)
        self._host.push_cells(cells, grid)
        return True

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
        old, changes = self._old_tables.get(key), self.changes

        def run(job: Job) -> None:
            weight_ = 0.5 if w is None else w  # 0.0 is a weight (meaning only), not "unset"
            version, paths = lib.version, list(lib.paths)
            X, source = mapdata.table_vectors(lib, space, weight_)
            table = None
            if old is not None and changes is not None and changes.paths == paths:
                table = _updated(X, old, source, changes, k)
            if table is None:
                idx, scores, _note = mapdata.neighbours(lib, space, weight_, k)
            else:
                idx, scores = table
            if not job.cancelled:
                self.tables[key] = (idx, scores)
                if lib.version == version:  # made from one state: a base for the next update
                    self._table_made[key] = (paths, source)
                host.push_table(idx, scores)
                job.final = "ready"

        self.runner.start("table", run, progress="table", initial="computing")

    # ------------------------------------------------------------------ thumbnails

    def start_thumbnails(self, size: int) -> None:
        """Build and send the thumbnail atlases (one per ATLAS_COLS² rows). After an incremental
        refresh (:meth:`clear` with changes) only the atlases whose rows changed are built and
        sent: the browser keeps the others (same data version)."""
        lib, host = self._host.library, self._host
        paths = list(lib.paths)
        colours = [r.get("color") for r in lib.records]
        version = host.data_version
        per = ATLAS_COLS * ATLAS_COLS
        count = -(-len(paths) // per)
        kept = _kept_atlases(self.changes, self._old_atlases, size, per, count, paths)
        self._old_atlases = ([], 0)  # once: the browser's atlases are the new ones from now on
        self.atlases = list(kept.values())
        self._atlases_made = (paths, size)
        todo = [b for b in range(count) if b not in kept]
        total = sum(min(per, len(paths) - b * per) for b in todo)

        def run(job: Job) -> None:
            safe, bad = mapdata.safe_paths(paths)
            if bad:  # those rows get a placeholder; the others still get thumbnails
                host.show_error("thumbnails: " + mapdata.describe_bad(bad, paths))
            done = 0
            for atlas, _failed in self.tiles.build_atlases(
                safe, colours, size, cancelled=lambda: job.cancelled, blocks=set(todo)
            ):
                if job.cancelled or version != host.data_version:
                    return
                self.atlases.append(atlas)
                host.push_atlas(atlas, version)
                done += atlas.count
                job.report([done, total])

        if todo:
            self.runner.start("thumbs", run, progress="thumbs", initial=[0, total])

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
                if job.cancelled:  # w.close(): stop at this file; the work done is saved
                    raise KeyboardInterrupt
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


def _updated(
    X: np.ndarray,
    old: tuple[str, np.ndarray, np.ndarray],
    source: str,
    changes: Changes,
    k: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The old table brought up to date for ``changes`` (``neighbours.incremental``), or None
    when it cannot be: other vectors, or a k the library now holds differently."""
    from vectorvision_widget.neighbours.incremental import update_table

    made_from, idx, scores = old
    if made_from != source or idx.shape[1] != min(k, X.shape[0] - 1) or idx.shape[1] < 1:
        return None
    new_idx, new_scores, _redone = update_table(X, idx, scores, changes.old_to_new, changes.fresh)
    return new_idx, new_scores


def _kept_atlases(
    changes: Changes | None,
    old: tuple[list[Any], int],
    size: int,
    per: int,
    count: int,
    paths: list[str],
) -> dict[int, Any]:
    """Atlases of the previous refresh that still show the right images (same tile size, same
    rows, none changed), by index: the browser has them already."""
    atlases, old_size = old
    if changes is None or old_size != size or changes.paths != paths:
        return {}
    return {
        a.index: a
        for a in atlases
        if a.index < count
        and a.count == min(per, len(paths) - a.index * per)
        and changes.block_kept(a.index, per)
    }


def _ready(weights: np.ndarray) -> Weights:
    """Weights already computed, as a :data:`Weights` function."""
    return lambda: weights


def _morphs(old_mode: str, mode: str, old_grid: tuple[int, int], grid: tuple[int, int]) -> bool:
    """Whether a change from ``old_mode`` warm-starts: to, from or within hybrid (the spaces
    overlap, so the current map is a good start); visual <-> semantic and colour are unrelated
    spaces whose short warm schedule could not reorganise the map: they train afresh."""
    return old_grid == grid and "hybrid" in (old_mode, mode) and "colour" not in (old_mode, mode)


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
