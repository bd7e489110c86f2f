"""The VectorVision anywidget: a SOM map of thumbnails with Shift+Hover similarity.

Python owns the data (library, layouts, neighbour tables, thumbnails) and computes everything in
background threads, so the kernel never blocks; the browser (``js/``) owns drawing and input.
Big arrays travel as binary (``serialize.py``), thumbnails as JPEG atlases (``thumbnails.py``).
"""

from __future__ import annotations

import difflib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from . import layout, mapdata
from .mapdata import MODES, Job
from .serialize import encode_array
from .thumbnails import SharpCache, TileCache, default_tile_size
from .widgetio import MessagesMixin

__all__ = ["VectorVision"]

_STATIC = Path(__file__).parent / "static"
_MODE_ALIASES = {"color": "colour", "look": "visual", "meaning": "semantic"}


class VectorVision(MessagesMixin, anywidget.AnyWidget):
    """An interactive map of an image library (see the README's "Widget" section).

    ``VectorVision(lib, encoders=None, *, layout="visual", k=10, thumb_size=None, height=560)``.
    Without encoders, text search falls back to file names and keywords, and ⟳ rescan is off.
    """

    _esm = _STATIC / "widget.js"
    _css = Path(__file__).parent / "widget.css"

    mode = traitlets.Unicode("visual").tag(sync=True)
    """Layout mode: "visual" (DINOv2 look), "semantic" (SigLIP meaning), "hybrid", "colour", or
    "custom" after :meth:`set_layout`. Default "visual"."""

    hybrid_weight = traitlets.Float(0.5).tag(sync=True)
    """Share of *look* in hybrid mode, 0 (meaning only) .. 1 (look only). Default 0.5."""

    k = traitlets.Int(10).tag(sync=True)
    """How many neighbours Shift+Hover lights up. Default 10."""

    hovered = traitlets.Int(None, allow_none=True).tag(sync=True)
    """Row under the cursor while Shift is held (None otherwise); set it to show a row's
    neighbours from Python."""

    selected = traitlets.List(traitlets.Int()).tag(sync=True)
    """Selected rows (click, Ctrl/Cmd-click, Ctrl/Cmd-drag box); settable. Default []."""

    highlighted = traitlets.List(traitlets.Int()).tag(sync=True)
    """Rows marked in rank order (search, colour, :meth:`highlight`). Default []."""

    query = traitlets.Unicode("").tag(sync=True)
    """Text in the search box; setting it runs the search. "" clears. Default ""."""

    colour_query = traitlets.Unicode("").tag(sync=True)
    """"#rrggbb" to highlight images with that colour (palette click / picker); "" clears."""

    search_k = traitlets.Int(24).tag(sync=True)
    """How many search / colour matches are highlighted. Default 24."""

    height = traitlets.Int(560).tag(sync=True)
    """Height of the map in CSS pixels. Default 560."""

    thumb_size = traitlets.Int(24).tag(sync=True)
    """Pixel size of the tiny atlas tiles (32/24/16 by library size); zoomed-in cells fetch sharper
    thumbnails on demand."""

    banner = traitlets.Unicode("").tag(sync=True)
    """Notice shown above the map, e.g. "using features for clustering: N images need a rescan"."""

    progress = traitlets.Dict().tag(sync=True)
    """Background work shown live: {"som": [epoch, n], "table": "computing"|"ready",
    "thumbs": [done, total], "scan": [done, total]}; read-only."""

    error = traitlets.Unicode("").tag(sync=True)
    """The last error from background work or a request (shown in the widget); read-only."""

    _n = traitlets.Int(0).tag(sync=True)
    _grid = traitlets.List(traitlets.Int(), [1, 1]).tag(sync=True)
    _cells = traitlets.Bytes(b"").tag(sync=True)
    _colors = traitlets.Bytes(b"").tag(sync=True)
    _nbr_idx = traitlets.Bytes(b"").tag(sync=True)
    _nbr_scores = traitlets.Bytes(b"").tag(sync=True)
    _nbr_k = traitlets.Int(0).tag(sync=True)
    _data_version = traitlets.Int(0).tag(sync=True)
    _can_rescan = traitlets.Bool(False).tag(sync=True)
    _can_search = traitlets.Bool(False).tag(sync=True)

    _PUBLIC_KW = ("selected", "highlighted", "query", "colour_query", "search_k", "hovered")

    def __init__(
        self,
        lib: Any,
        encoders: Any = None,
        *,
        layout: str = "visual",
        k: int = 10,
        thumb_size: int | None = None,
        height: int = 560,
        hybrid_weight: float = 0.5,
        **kwargs: Any,
    ) -> None:
        unknown = [name for name in kwargs if name not in self._PUBLIC_KW]
        if unknown:
            known = [
                "encoders",
                "layout",
                "k",
                "thumb_size",
                "height",
                "hybrid_weight",
                *self._PUBLIC_KW,
            ]
            hints = [difflib.get_close_matches(u, known, n=1) for u in unknown]
            extra = "; ".join(
                f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                for u, h in zip(unknown, hints, strict=True)
            )
            msg = f"VectorVision got unexpected keyword argument(s) {extra}; valid: {known}"
            raise TypeError(msg)
        mode = self._check_mode(layout)
        self._lib = lib
        self._encoders = encoders
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._cells_np = np.zeros((0, 2), np.int32)
        self._layout_cache: dict[tuple[Any, ...], tuple[np.ndarray, tuple[int, int]]] = {}
        self._table_cache: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._tiles = TileCache()
        self._sharp = SharpCache()
        self._atlases: list[Any] = []
        self._hover_callbacks: list[Callable[[int | None], None]] = []
        self._seen_version: int | None = None
        n = len(lib)
        super().__init__(
            mode=mode,
            k=int(k),
            height=int(height),
            hybrid_weight=float(hybrid_weight),
            thumb_size=int(thumb_size or default_tile_size(n)),
            _can_search=True,
            _can_rescan=encoders is not None,
            **kwargs,
        )
        self.on_msg(self._on_js_message)
        self.observe(self._on_mode, names=["mode", "hybrid_weight"])
        self.observe(self._on_k, names=["k"])
        self.observe(self._on_query, names=["query", "search_k"])
        self.observe(self._on_colour, names=["colour_query"])
        self.observe(self._on_hovered, names=["hovered"])
        self.refresh()

    # ------------------------------------------------------------------ public API

    @property
    def library(self) -> Any:
        """The library this widget shows (call :meth:`refresh` after changing it)."""
        return self._lib

    @property
    def cells(self) -> np.ndarray:
        """(N, 2) int32 (row, col) grid cell of each image in the current layout (a copy)."""
        return self._cells_np.copy()

    @property
    def selected_paths(self) -> list[str]:
        """Paths of the selected images; assign a list of paths to select them."""
        paths = self._lib.paths
        return [paths[r] for r in self.selected if 0 <= r < len(paths)]

    @selected_paths.setter
    def selected_paths(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        rows = []
        for p in paths:
            row = self._lib.row_of(p)
            if row is None:
                msg = f"selected_paths: {os.fspath(p)!r} is not in the library; check lib.paths"
                raise KeyError(msg)
            rows.append(row)
        self.selected = rows

    @traitlets.validate("selected", "highlighted")
    def _valid_rows(self, proposal: Any) -> list[int]:
        n = len(self._lib)
        rows = [int(r) for r in proposal["value"]]
        bad = [r for r in rows if not 0 <= r < n]
        if bad:
            name = proposal["trait"].name
            msg = f"{name}: rows {bad[:5]} are out of range for a library of {n} images"
            raise traitlets.TraitError(msg)
        return list(dict.fromkeys(rows))

    @traitlets.validate("mode")
    def _valid_mode(self, proposal: Any) -> str:
        value = proposal["value"]
        return value if value == "custom" else self._check_mode(value)

    @traitlets.validate("k")
    def _valid_k(self, proposal: Any) -> int:
        k = int(proposal["value"])
        if not 1 <= k <= 100:
            msg = f"k must be between 1 and 100, got {k}"
            raise traitlets.TraitError(msg)
        return k

    @traitlets.validate("hybrid_weight")
    def _valid_weight(self, proposal: Any) -> float:
        return float(np.clip(proposal["value"], 0.0, 1.0))

    def on_hover(
        self, callback: Callable[[int | None], None], *, remove: bool = False
    ) -> Callable[[int | None], None]:
        """Call ``callback(row_or_None)`` whenever the Shift+Hovered image changes."""
        if remove:
            self._hover_callbacks.remove(callback)
        else:
            self._hover_callbacks.append(callback)
        return callback

    def neighbours(self, row: int) -> list[tuple[int, float]]:
        """The k images Shift+Hover lights up for ``row`` (current mode), best first; [] until the
        neighbour table is ready."""
        table = self._table_cache.get(self._table_key())
        if table is None:
            return []
        idx, scores = table
        return [(int(i), float(s)) for i, s in zip(idx[row], scores[row], strict=True) if i >= 0]

    def set_layout(self, cells_or_coords: Any) -> None:
        """Show your own layout: unique int (N, 2) cells are used as they are; any (N, 2) floats
        (UMAP, t-SNE, ...) are gridded with ``layout.grid_cells``. Stops SOM training."""
        n = len(self._lib)
        arr = np.asarray(cells_or_coords)
        if arr.shape[:1] != (n,):
            msg = f"set_layout: got {arr.shape[0] if arr.ndim else 0} rows for a library of {n}"
            raise ValueError(msg)
        self._cancel("layout")
        cells, grid = mapdata.cells_for(arr, tuple(self._grid))  # type: ignore[arg-type]
        with self.hold_trait_notifications():
            self.set_trait("mode", "custom")
        self._push_cells(cells, grid)
        self._set_progress(som=None)

    def highlight(self, rows: Iterable[int]) -> None:
        """Mark ``rows`` in the map in the order given (numbered 1, 2, ...); [] clears."""
        self.highlighted = [int(r) for r in rows]

    def refresh(self) -> None:
        """Re-read the library (after a scan or edits): layout, neighbours and thumbnails are
        recomputed in the background; the selection keeps the paths that still exist."""
        lib = self._lib
        old_paths = list(getattr(self, "_paths_snapshot", []))
        old_sel = [old_paths[r] for r in self.selected if r < len(old_paths)]
        self._paths_snapshot = list(lib.paths)
        n = len(lib)
        self._seen_version = getattr(lib, "version", None)
        self._layout_cache.clear()
        self._table_cache.clear()
        for name in list(self._jobs):
            self._cancel(name)
        rows = [lib.row_of(p) for p in old_sel]
        grid = layout.default_grid_shape(n)
        colours = [r.get("color") or [128, 128, 128] for r in lib.records]
        with self.hold_sync():
            self.selected = [r for r in rows if r is not None]
            self.highlighted = []
            self.hovered = None
            self._n = n
            self.banner = self._banner_text()
            self._colors = encode_array(np.asarray(colours, np.uint8).reshape(-1, 3), "u1")
            self._nbr_idx = b""
            self._nbr_scores = b""
            self._nbr_k = 0
            self._data_version = self._data_version + 1
        self._push_cells(mapdata.row_order_cells(n, *grid), grid)
        self._atlases = []
        if n:
            self._start_layout()
            self._start_table()
            self._start_thumbnails()

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until background layout, neighbour and thumbnail work is done (for scripts and
        tests; the widget itself never needs it). Returns False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:  # jobs may start others (a rescan refreshes), so look again until idle
            alive = [j for j in list(self._jobs.values()) if j.thread.is_alive()]
            if not alive:
                return True
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            alive[0].join(left)

    def close(self) -> None:
        """Stop background work and close the widget's connection to the browser."""
        for name in list(getattr(self, "_jobs", {})):
            self._cancel(name)
        super().close()

    # ------------------------------------------------------------------ background jobs

    @staticmethod
    def _check_mode(mode: str) -> str:
        mode = _MODE_ALIASES.get(mode, mode)
        if mode not in MODES:
            msg = f"layout mode must be one of {MODES}, got {mode!r}"
            raise ValueError(msg)
        return mode

    def _cancel(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None:
            job.cancel()

    def _start(self, name: str, target: Callable[[Job], None]) -> None:
        self._cancel(name)

        def run(job: Job) -> None:
            try:
                target(job)
            except Exception as err:
                if not job.cancelled:
                    self._set(error=f"{name}: {type(err).__name__}: {err}")
                raise

        self._jobs[name] = Job(run, name)

    def _set(self, **traits: Any) -> None:
        with self._lock, self.hold_sync():
            for key, value in traits.items():
                setattr(self, key, value)

    def _set_progress(self, **parts: Any) -> None:
        with self._lock:
            prog = dict(self.progress)
            for key, value in parts.items():
                if value is None:
                    prog.pop(key, None)
                else:
                    prog[key] = value
            self.progress = prog

    def _push_cells(self, cells: np.ndarray, grid: tuple[int, int]) -> None:
        with self._lock:
            self._cells_np = np.asarray(cells, np.int32)
            self._set(
                _grid=[int(grid[0]), int(grid[1])], _cells=encode_array(self._cells_np, "<i4")
            )

    def _start_layout(self) -> None:
        mode, weight = self.mode, round(self.hybrid_weight, 3)
        if mode == "custom":
            return
        key = (mode, weight if mode == "hybrid" else None)
        cached = self._layout_cache.get(key)
        if cached is not None:
            self._cancel("layout")
            self._push_cells(*cached)
            return
        lib = self._lib
        grid = layout.default_grid_shape(len(lib))

        def run(job: Job) -> None:
            X, _note = mapdata.mode_vectors(lib, mode, weight)  # banner: see _banner_text

            def on_cells(cells: np.ndarray, epoch: int, n_epochs: int) -> None:
                if not job.cancelled:
                    self._push_cells(cells, grid)
                    self._set_progress(som=[epoch, n_epochs])

            cells = mapdata.train_layout(X, grid, on_cells, lambda: job.cancelled)
            if not job.cancelled:
                self._layout_cache[key] = (cells, grid)
                self._push_cells(cells, grid)
                self._set_progress(som=None)

        self._set_progress(som=[0, 1])
        self._start("layout", run)

    def _banner_text(self) -> str:
        """The notice for libraries scanned before visual features existed. Shown in every mode
        (colour mode's Shift+Hover uses the visual table too), so users know why the map looks
        different from a fresh scan and what fixes it."""
        n = len(self._lib)
        missing = int(getattr(self._lib, "missing_visual_count", 0) or 0)
        if not n or not missing:
            return ""
        remedy = (
            "click ⟳ to rescan"
            if self._encoders is not None
            else "rescan with vv.scan(folder, lib, encoders=enc, force=True), then w.refresh()"
        )
        count = f"{missing} images need" if missing == n else f"{missing} of {n} images need"
        return (
            f"{count} a rescan: without visual (DINOv2) features, the map and Shift+Hover use "
            f"`features` (SigLIP meaning) instead; {remedy}"
        )

    def _table_key(self) -> tuple[Any, ...]:
        space = {"colour": "visual", "custom": "visual"}.get(self.mode, self.mode)
        weight = round(self.hybrid_weight, 3) if space == "hybrid" else None
        return (space, weight, self.k)

    def _start_table(self) -> None:
        key = self._table_key()
        cached = self._table_cache.get(key)
        if cached is not None:
            self._cancel("table")
            self._push_table(*cached)
            return
        lib = self._lib
        space, weight, k = key

        def run(job: Job) -> None:
            idx, scores, _note = mapdata.neighbours(lib, space, weight or 0.5, k)
            if not job.cancelled:
                self._table_cache[key] = (idx, scores)
                self._push_table(idx, scores)

        self._set_progress(table="computing")
        self._start("table", run)

    def _push_table(self, idx: np.ndarray, scores: np.ndarray) -> None:
        self._set(
            _nbr_idx=encode_array(idx, "<i4"),
            _nbr_scores=encode_array(scores, "<f4"),
            _nbr_k=int(idx.shape[1]) if idx.ndim == 2 else 0,
        )
        self._set_progress(table="ready")

    def _start_thumbnails(self) -> None:
        lib = self._lib
        paths = list(lib.paths)
        colours = [r.get("color") for r in lib.records]
        size = self.thumb_size
        version = self._data_version

        def run(job: Job) -> None:
            done = 0
            self._set_progress(thumbs=[0, len(paths)])
            for atlas, _failed in self._tiles.build_atlases(
                paths, colours, size, cancelled=lambda: job.cancelled
            ):
                if job.cancelled or version != self._data_version:
                    return
                self._atlases.append(atlas)
                self.send({"type": "atlas", "version": version, **atlas.header()}, [atlas.jpeg])
                done += atlas.count
                self._set_progress(thumbs=[done, len(paths)])
            self._set_progress(thumbs=None)

        self._start("thumbs", run)

    # ------------------------------------------------------------------ observers

    def _on_mode(self, change: Any) -> None:
        if change["name"] == "hybrid_weight" and self.mode != "hybrid":
            return
        if self.mode == "custom":
            return
        self._start_layout()
        self._start_table()

    def _on_k(self, _change: Any) -> None:
        if len(self._lib):
            self._start_table()

    def _on_hovered(self, change: Any) -> None:
        for cb in list(self._hover_callbacks):
            cb(change["new"])

    def _on_query(self, _change: Any) -> None:
        text = self.query.strip()
        if not text:
            if not self.colour_query:
                self.highlighted = []
            return
        self._start("search", lambda job: self._run_search(job, text))

    def _on_colour(self, _change: Any) -> None:
        colour = self.colour_query.strip()
        if not colour:
            if not self.query:
                self.highlighted = []
            return

        def run(job: Job) -> None:
            hits = self._lib.by_colour(colour, k=self.search_k)
            if not job.cancelled:
                self._set(highlighted=[r for r, _ in hits], error="")

        self._start("colour", run)

    def _run_search(self, job: Job, text: str) -> None:
        if self._encoders is not None:
            hits = [r for r, _ in self._lib.search(text, encoders=self._encoders, k=self.search_k)]
        else:
            hits = _name_search(self._lib, text, self.search_k)
        if not job.cancelled and text == self.query.strip():
            self._set(highlighted=hits, error="")


def _name_search(lib: Any, text: str, k: int) -> list[int]:
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


def _as_rows(rows: Sequence[Any]) -> list[int]:
    return [int(r) for r in rows]
