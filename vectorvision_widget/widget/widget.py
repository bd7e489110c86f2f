"""The VectorVision anywidget: a SOM map of thumbnails with Shift+Hover similarity.

This module holds the traits and the public methods. Background work (layout, neighbour table,
thumbnails, search, rescan) lives in ``mapwork.py`` on the one job abstraction of ``jobs.py``;
browser requests are answered by ``browser_requests.BrowserRequests``; arrays travel as
``{view, dtype, shape}`` (``serialize.ArrayTrait``), thumbnails as JPEG atlases; custom messages
follow ``protocol.py``.
"""

from __future__ import annotations

import difflib
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import traitlets

import vectorvision_widget.som.layout as layout
import vectorvision_widget.widget.mapdata as mapdata
from vectorvision_widget.modes import MODE_INFO, check_mode
from vectorvision_widget.thumbs.tiles import (
    ATLAS_TILE_BOUNDS,
    SHARP_SIZES,
    Atlas,
    default_tile_size,
)
from vectorvision_widget.widget.mapwork import MapWork
from vectorvision_widget.widget.overview import Overview
from vectorvision_widget.widget.protocol import MosaicsReply, Reply
from vectorvision_widget.widget.requests import BrowserRequests, atlas_reply
from vectorvision_widget.widget.serialize import ArraysTrait, ArrayTrait

if TYPE_CHECKING:
    from vectorvision_widget.library import Library
    from vectorvision_widget.models.encoders import Encoders

__all__ = ["ModeError", "VectorVision"]

_STATIC = Path(__file__).parent.parent / "static"
THUMB_SIZES = ATLAS_TILE_BOUNDS  #: bounds of ``thumb_size`` (atlas tile px)
SEARCH_K_MAX = 10_000
HEIGHT_BOUNDS = (100, 10_000)


class ModeError(traitlets.TraitError, ValueError):
    """An unknown map mode (a TraitError, so a bad value from the browser is rolled back)."""


class VectorVision(anywidget.AnyWidget):
    """An interactive map of an image library (see the README's "Widget" section).

    ``VectorVision(lib, encoders=None, *, mode="visual", k=10, thumb_size=None, height=560)``;
    ``layout=`` is ipywidgets' Layout (e.g. ``widgets.Layout(width="50%")``). Without encoders,
    text search falls back to file names and keywords, and ⟳ rescan is off.
    """

    _esm = _STATIC / "widget.js"
    _css = Path(__file__).parent / "widget.css"

    mode = traitlets.Unicode("visual").tag(sync=True)
    """Layout mode: "visual" (DINOv2 look), "semantic" (SigLIP meaning), "hybrid", "colour", or
    "custom" after :meth:`set_layout`. Default "visual"."""

    hybrid_weight = traitlets.Float(0.5).tag(sync=True)
    """Share of *look* in hybrid mode, 0 (meaning only) .. 1 (look only). Default 0.5."""

    k = traitlets.Int(10).tag(sync=True)
    """How many neighbours Shift+Hover lights up, 1..100. Default 10."""

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
    """How many search / colour matches are highlighted (1..10000). Default 24."""

    height = traitlets.Int(560).tag(sync=True)
    """Height of the map in CSS pixels (100..10000). Default 560."""

    thumb_size = traitlets.Int(24).tag(sync=True)
    """Pixel size of the tiny atlas tiles (4..64; default 32 down to 4 px by library size, so the
    first payload stays small); zoomed-in cells fetch sharper thumbnails on demand."""

    banner = traitlets.Unicode("").tag(sync=True)
    """Notice shown above the map, e.g. "using features for clustering: N images need a rescan"."""

    progress = traitlets.Dict().tag(sync=True)
    """Background work shown live: {"som": [epoch, n], "table": "computing"|"ready",
    "thumbs": [done, total], "scan": [done, total]}; an entry disappears when its job ends or
    fails. Read-only."""

    error = traitlets.Unicode("").tag(sync=True)
    """The last error from background work or a request (shown in the widget); read-only."""

    status = traitlets.Unicode("").tag(sync=True)
    """The last notice from the widget, e.g. "rescan: 3 added … saved to lib.json"; read-only."""

    _grid = traitlets.List(traitlets.Int(), [1, 1]).tag(sync=True)
    _cells = ArrayTrait("int32", cols=2, narrow=True).tag(sync=True)
    _colours = ArrayTrait("uint8", cols=3).tag(sync=True)
    _table = ArraysTrait(
        {"idx": "int32", "scores": "float32"}, quantize={"scores": (-1.0, 1.0)}
    ).tag(sync=True)
    _data_version = traitlets.Int(0).tag(sync=True)
    _can_rescan = traitlets.Bool(False).tag(sync=True)
    _can_search = traitlets.Bool(False).tag(sync=True)
    _modes = traitlets.List([list(m) for m in MODE_INFO]).tag(sync=True)
    """[name, label, tooltip] of each mode button (``modes.MODE_INFO``): the toolbar's source."""
    _sharp_sizes = traitlets.List(list(SHARP_SIZES)).tag(sync=True)
    """Sharp thumbnail sizes the kernel cuts (``thumbs.tiles.SHARP_SIZES``): the browser asks for
    the one a zoomed-in cell needs and stops zooming at twice the largest."""

    _PUBLIC_KW = ("selected", "highlighted", "query", "colour_query", "search_k", "hovered")
    _WIDGET_KW = ("tooltip", "tabbable")

    def __init__(
        self,
        lib: Library,
        encoders: Encoders | None = None,
        *,
        mode: str | None = None,
        k: int = 10,
        thumb_size: int | None = None,
        height: int = 560,
        hybrid_weight: float = 0.5,
        layout: Any = None,
        **kwargs: Any,
    ) -> None:
        self._check_kwargs(kwargs)
        if isinstance(layout, str):
            warnings.warn(
                "VectorVision(layout=...) as the map mode is deprecated: use mode=...; "
                "layout= is ipywidgets' Layout (e.g. widgets.Layout(width='50%'))",
                DeprecationWarning,
                stacklevel=2,
            )
            if mode is not None:
                msg = "pass the map mode once: mode=... (layout=<str> is its deprecated name)"
                raise TypeError(msg)
            mode, layout = layout, None
        if layout is not None:
            kwargs["layout"] = layout
        self._lib = lib
        self._encoders = encoders
        self._hover_callbacks: list[Callable[[int | None], None]] = []
        self._paths_snapshot: list[str] = []
        self.last_scan: Any = None
        host = _WidgetHost(self)
        self._work = MapWork(host)
        self._overview = Overview(host, self._work.runner, host.lock)
        self._requests = BrowserRequests(host)
        self._host = host
        n = len(lib)
        super().__init__(
            mode=self._valid_mode({"value": mode or "visual"}),
            k=k,
            height=height,
            hybrid_weight=hybrid_weight,
            thumb_size=default_tile_size(n) if thumb_size is None else thumb_size,
            _can_search=True,
            _can_rescan=encoders is not None,
            **kwargs,
        )
        self.on_msg(lambda _w, content, buffers: self._requests.handle(content, buffers))
        self.observe(self._on_mode, names=["mode", "hybrid_weight"])
        self.observe(self._on_k, names=["k"])
        self.observe(self._on_query, names=["query", "search_k"])
        self.observe(self._on_colour, names=["colour_query"])
        self.observe(self._on_hovered, names=["hovered"])
        self.observe(self._on_thumb_size, names=["thumb_size"])
        self.refresh()

    def _check_kwargs(self, kwargs: dict[str, Any]) -> None:
        unknown = [name for name in kwargs if name not in (*self._PUBLIC_KW, *self._WIDGET_KW)]
        if not unknown:
            return
        known = [
            "encoders",
            "mode",
            "k",
            "thumb_size",
            "height",
            "hybrid_weight",
            "layout",
            *self._PUBLIC_KW,
        ]
        hints = [difflib.get_close_matches(u, known, n=1) for u in unknown]
        extra = "; ".join(
            f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
            for u, h in zip(unknown, hints, strict=True)
        )
        msg = f"VectorVision got unexpected keyword argument(s) {extra}; valid: {known}"
        raise TypeError(msg)

    # ------------------------------------------------------------------ public API

    @property
    def library(self) -> Library:
        """The library this widget shows (call :meth:`refresh` after changing it)."""
        return self._lib

    @property
    def cells(self) -> np.ndarray:
        """(N, 2) int32 (row, col) grid cell of each image in the current layout (a copy)."""
        return np.array(self._cells, dtype=np.int32, copy=True)

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
        neighbour table is ready. IndexError for a row outside 0..N-1 (no negative indexing)."""
        n = len(self._lib)
        if isinstance(row, bool) or not isinstance(row, int | np.integer):
            msg = f"neighbours: row must be an int, got {type(row).__name__}"
            raise TypeError(msg)
        if not 0 <= row < n:
            msg = f"neighbours: row {row} is out of range for a library of {n} images"
            raise IndexError(msg)
        table = self._work.tables.get(self._work.table_key(self.mode, self.hybrid_weight, self.k))
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
        self._work.runner.cancel("layout")
        cells, grid = mapdata.cells_for(arr, (self._grid[0], self._grid[1]))
        self.set_trait("mode", "custom")
        self._host.push_cells(cells, grid)

    def highlight(self, rows: Iterable[int]) -> None:
        """Mark ``rows`` in the map in the order given (numbered 1, 2, ...); [] clears."""
        self.highlighted = [int(r) for r in rows]

    def refresh(self) -> None:
        """Re-read the library (after a scan or edits): layout, neighbours and thumbnails are
        recomputed in the background; the selection keeps the paths that still exist."""
        lib = self._lib
        old_paths = self._paths_snapshot
        old_sel = [old_paths[r] for r in self.selected if r < len(old_paths)]
        self._paths_snapshot = list(lib.paths)
        n = len(lib)
        self._work.clear()
        rows = [lib.row_of(p) for p in old_sel]
        grid = layout.default_grid_shape(n)
        colours = [(r.get("color") or [128, 128, 128])[:3] for r in lib.records]
        with self.hold_sync():
            self._data_version = self._data_version + 1
            self.selected = [r for r in rows if r is not None]
            self.highlighted = []
            self.hovered = None
            self.banner = mapdata.banner_text(lib, can_rescan=self._encoders is not None)
            self._colours = np.asarray(colours, np.uint8).reshape(-1, 3)
            self._table = {"idx": np.zeros((n, 0), np.int32), "scores": np.zeros((n, 0))}
        self._host.push_cells(mapdata.row_order_cells(n, *grid), grid)
        if n:
            self._work.start_layout(self.mode, self.hybrid_weight)
            self._work.start_table(self.mode, self.hybrid_weight, self.k)
            self._work.start_thumbnails(self.thumb_size)

    def rescan(self, force: bool = False) -> None:
        """Rescan the library's root folders in the background (``vv.scan(root, lib,
        force=force)``: only new and changed files are embedded unless ``force``), save the
        library to ``lib.path`` when it has one, say so in ``status``, then :meth:`refresh`.
        Needs encoders."""
        value: object = force  # checked at run time: callers may pass anything
        if not isinstance(value, bool):
            msg = f"rescan: force must be True or False, got {force!r}"
            raise TypeError(msg)
        if self._encoders is None:
            msg = "rescan needs encoders: VectorVision(lib, encoders=vv.Encoders.load())"
            raise ValueError(msg)
        roots = [os.fspath(r) for r in (getattr(self._lib, "roots", None) or [])]
        if not roots:
            msg = "rescan: the library has no roots (scan a folder with vv.scan first)"
            raise ValueError(msg)
        if self._work.runner.running("scan"):  # two scans must never write one library at once
            msg = "rescan: a rescan is already running; w.wait() waits for it"
            raise RuntimeError(msg)
        self._work.start_rescan(self._encoders, roots, force)

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until background layout, neighbour and thumbnail work is done (for scripts and
        tests; the widget itself never needs it). Returns False on timeout."""
        return self._work.runner.wait(timeout)

    def close(self) -> None:
        """Stop background work and close the widget's connection to the browser."""
        if hasattr(self, "_work"):
            self._work.runner.cancel_all()
            self._requests.close()
        super().close()

    # ------------------------------------------------------------------ validation

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply a state update from the browser; a refused value (TraitError) is rolled back by
        traitlets, shown in ``error`` and the kept values are sent back to the browser."""
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as err:
            self.error = mapdata.ascii_name(f"{type(err).__name__}: {err}")
            self.send_state([k for k in sync_data if k in self.keys])
            raise

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
        if value == "custom":
            return "custom"
        try:
            return check_mode(value)
        except ValueError as err:
            raise ModeError(f"layout {err}") from None

    @traitlets.validate("hovered")
    def _valid_hovered(self, proposal: Any) -> int | None:
        row = proposal["value"]
        n = len(self._lib)
        if row is not None and not 0 <= row < n:
            msg = f"hovered: row {row} is out of range for a library of {n} images (or None)"
            raise traitlets.TraitError(msg)
        return None if row is None else int(row)

    @traitlets.validate("hybrid_weight")
    def _valid_weight(self, proposal: Any) -> float:
        w = float(proposal["value"])
        if not (math.isfinite(w) and 0.0 <= w <= 1.0):
            msg = f"hybrid_weight must be a number from 0 (meaning) to 1 (look), got {w}"
            raise traitlets.TraitError(msg)
        return w

    @traitlets.validate("k", "search_k", "thumb_size", "height")
    def _valid_bounded(self, proposal: Any) -> int:
        name, value = proposal["trait"].name, int(proposal["value"])
        lo, hi = {
            "k": (1, 100),
            "search_k": (1, SEARCH_K_MAX),
            "thumb_size": THUMB_SIZES,
            "height": HEIGHT_BOUNDS,
        }[name]
        if not lo <= value <= hi:
            msg = f"{name} must be between {lo} and {hi}, got {value}"
            raise traitlets.TraitError(msg)
        return value

    # ------------------------------------------------------------------ observers

    def _on_mode(self, change: Any) -> None:
        if change["name"] == "hybrid_weight" and self.mode != "hybrid":
            return
        if self.mode == "custom" or not len(self._lib):
            return
        self._work.start_layout(self.mode, self.hybrid_weight)
        self._work.start_table(self.mode, self.hybrid_weight, self.k)

    def _on_k(self, _change: Any) -> None:
        if len(self._lib):
            self._work.start_table(self.mode, self.hybrid_weight, self.k)

    def _on_thumb_size(self, _change: Any) -> None:
        if len(self._lib):
            self._work.start_thumbnails(self.thumb_size)

    def _on_hovered(self, change: Any) -> None:
        for cb in list(self._hover_callbacks):
            cb(change["new"])

    def _on_query(self, _change: Any) -> None:
        text = self.query.strip()
        if not text:
            self._work.runner.cancel("search")
            if not self.colour_query:
                self.highlighted = []
            return
        self._work.start_search(text, self.search_k, self._encoders)

    def _on_colour(self, _change: Any) -> None:
        colour = self.colour_query.strip()
        if not colour:
            self._work.runner.cancel("colour")
            if not self.query:
                self.highlighted = []
            return
        self._work.start_colour(colour, self.search_k)


class _WidgetHost:
    """The widget as its background work and browser requests see it (``mapwork.MapHost``,
    ``browser_requests.WidgetSide``): results land in traits here, nowhere else."""

    def __init__(self, widget: VectorVision) -> None:
        self._w = widget
        self._lock = threading.RLock()
        self.lock = self._lock  # the overview's sends hold it too (see widget.overview)

    @property
    def library(self) -> Library:
        return self._w.library

    @property
    def data_version(self) -> int:
        return self._w._data_version

    def atlases(self) -> list[Atlas]:
        return list(self._w._work.atlases)

    def sharp(self, path: str, size: int, *, square: bool) -> bytes | None:
        return self._w._work.sharp.get(path, size, square=square)

    def mosaics(self) -> list[tuple[MosaicsReply, list[bytes]]]:
        return self._w._overview.replies()

    def send(self, content: Reply, buffers: list[bytes] | None = None) -> None:
        self._w.send(content, buffers)

    def rescan(self, force: bool = False) -> None:
        self._w.rescan(force=force)

    def set_progress(self, key: str, value: Any) -> None:
        w = self._w
        with self._lock:
            prog = dict(w.progress)
            if value is None:
                prog.pop(key, None)
            else:
                prog[key] = value
            if prog != w.progress:
                w.progress = prog

    def show_error(self, text: str) -> None:
        self._w.error = mapdata.ascii_name(text)

    def show_status(self, text: str) -> None:
        self._w.status = mapdata.ascii_name(text)

    def push_cells(self, cells: np.ndarray, grid: tuple[int, int]) -> None:
        w = self._w
        with self._lock, w.hold_sync():
            w._grid = [int(grid[0]), int(grid[1])]
            w._cells = np.asarray(cells, np.int32).reshape(-1, 2)
            w._overview.cells_changed(cells, grid)
        w._overview.schedule()  # outside the lock: job progress takes it under the runner's

    def push_table(self, idx: np.ndarray, scores: np.ndarray) -> None:
        self._w._table = {"idx": idx, "scores": scores}

    def push_atlas(self, atlas: Atlas, version: int) -> None:
        self._w.send(atlas_reply(atlas, version), [atlas.jpeg])
        self._w._overview.schedule()

    def push_hits(self, rows: list[int], query: str, colour: str) -> None:
        w = self._w
        if (query and query != w.query.strip()) or (colour and colour != w.colour_query.strip()):
            return  # a newer search replaced this one
        with self._lock, w.hold_sync():
            w.highlighted = rows
            w.error = ""

    def scanned(self, report: Any, saved_to: str | None) -> None:
        w = self._w
        w.last_scan = report
        added, updated = len(report.added), len(report.updated)
        removed, failed = len(report.removed), len(report.failed)
        text = f"rescan: {added} added, {updated} updated, {removed} removed, {failed} failed"
        if saved_to:
            text += f"; saved to {saved_to}"
        elif not getattr(w.library, "path", None):
            text += "; not saved (the library has no file: lib.save(path) keeps it)"
        self.show_status(text)
        if failed:
            self.show_error(f"rescan: {failed} file(s) could not be read (see w.last_scan.failed)")
        w.refresh()
