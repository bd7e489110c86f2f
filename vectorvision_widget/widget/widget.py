"""The VectorVision anywidget: a SOM map of thumbnails with Shift+Hover similarity.

This module holds the traits and the public methods. Background work (layout, neighbour table,
thumbnails, search, rescan) lives in ``mapwork.py`` on the one job abstraction of ``jobs.py``;
browser requests are answered by ``requests.BrowserRequests``; arrays travel as
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
import vectorvision_widget.widget.duplicates_review as dupreview
import vectorvision_widget.widget.finding as finding
import vectorvision_widget.widget.increments as increments
import vectorvision_widget.widget.labels as labelling
import vectorvision_widget.widget.mapdata as mapdata
from vectorvision_widget.modes import MODE_INFO, check_mode
from vectorvision_widget.thumbs.tiles import (
    ATLAS_TILE_BOUNDS,
    SHARP_SIZES,
    Atlas,
    default_tile_size,
    sharp_sizes_for,
)
from vectorvision_widget.widget.actions import SelectionActions
from vectorvision_widget.widget.mapwork import MapWork
from vectorvision_widget.widget.overview import Overview
from vectorvision_widget.widget.protocol import MosaicsReply, Reply, shown_number
from vectorvision_widget.widget.requests import BrowserRequests, atlas_reply, rows_reply
from vectorvision_widget.widget.selection_export import export_files
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
    """An interactive map of an image library (every control: the docs' "The widget" page).

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
    """Selected rows (click, Ctrl/Cmd-click, box or lasso drags: Ctrl/Cmd adds, Alt replaces,
    Ctrl/Cmd+Alt removes); settable. Default []."""

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
    "thumbs": [done, total], "scan": [done, total], "duplicates": "computing"}; an entry
    disappears when its job ends or fails. Read-only."""

    error = traitlets.Unicode("").tag(sync=True)
    """The last error from background work or a request (shown in the widget); read-only."""

    status = traitlets.Unicode("").tag(sync=True)
    """The last notice from the widget, e.g. "rescan: 3 added … saved to lib.json"; read-only."""

    labels = traitlets.List(traitlets.Dict()).tag(sync=True)
    """Region labels over the map (semantic zoom): dicts with ``text``, ``row`` (the region's
    representative image, its medoid), ``x``/``y`` (grid cells), ``level`` (0 = overview,
    finer ones appear as you zoom in), and for computed ones ``keywords``, ``count``, ``score``.
    Recomputed in the background from the records' keywords when the layout changes; assign
    your own list to show those instead (kept until :meth:`reset_labels`). Default []."""

    filter = traitlets.Dict().tag(sync=True)
    """The filter bar's state: ``lib.where``'s arguments (``folder``, ``taken``, ``camera``,
    ``tags``, ``keywords``, ``has_gps``); images that do not match are dimmed. Settable; a bad
    key or value is refused with the reason. {} shows everything. Default {}."""

    filter_count = traitlets.Int(None, allow_none=True).tag(sync=True)
    """How many images match ``filter`` (None without a filter); read-only."""

    search_total = traitlets.Int(None, allow_none=True).tag(sync=True)
    """How many images match the text search (the toolbar says "24 of 312"); None when the
    highlight is a ranking only (colour, image query, more/less like). Read-only."""

    _hit_what = traitlets.Unicode("").tag(sync=True)
    """What the current highlight came from when it is not the search box ("image cat.jpg")."""
    _filter_mask = traitlets.Bytes(b"").tag(sync=True)
    """A bit per image (``np.packbits``): 1 = matches ``filter``; empty without a filter."""
    _filter_options = traitlets.Dict().tag(sync=True)
    """The filter bar's choices (``finding.filter_options``)."""
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
    _duplicate_review = traitlets.Dict().tag(sync=True)
    """The duplicate review the browser shows (``duplicates_review.review_payload``); {} when
    none was asked for."""
    _duplicate_choices = traitlets.List(traitlets.Int()).tag(sync=True)
    """Kept row per duplicate group (index = group index), the browser's side of
    :attr:`duplicate_choices`."""
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
        self._is_closed = False
        self._hover_callbacks: list[Callable[[int | None], None]] = []
        self._dup_groups: list[dupreview.DuplicateGroup] = []
        self._dup_serial = 0
        self._custom_labels: list[dict[str, Any]] | None = None
        self._placing_labels = False
        self._kw_index: tuple[int, labelling.KeywordIndex] | None = None
        self._filter_rows: list[int] | None = None
        self._like_pos: list[int] = []
        self._like_neg: list[int] = []
        self._paths_snapshot: list[str] = []
        self._prints = np.zeros(0, np.uint64)  # increments.row_prints of _paths_snapshot
        self.last_scan: Any = None
        host = _WidgetHost(self)
        self._work = MapWork(host)
        self._overview = Overview(host, self._work.runner, host.lock)
        self._requests = BrowserRequests(host)
        actions = SelectionActions(host)
        for kind in ("tag", "paths", "names", "review"):
            self._requests.add_handler(kind, getattr(actions, kind))
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
        self.observe(self._on_filter, names=["filter"])
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

    def export_selection(self, folder: str | os.PathLike[str], mode: str = "copy") -> list[Path]:
        """Copy (``mode="copy"``) or symlink (``"link"``) the selected images' original files
        into ``folder`` (created if missing); returns the paths written. Originals are never
        moved, overwritten or deleted; a name already taken gets a suffix (``cat_1.jpg``). A
        missing or unreadable original is skipped with a warning (and ``error``) naming it; the
        others are still written."""
        result = export_files(self.selected_paths, folder, mode)
        if result.problems:
            shown = "; ".join(f"{mapdata.ascii_name(p)} ({why})" for p, why in result.problems[:5])
            more = len(result.problems) - 5
            text = f"export: {len(result.problems)} file(s) not exported: {shown}"
            text += f" and {more} more" if more > 0 else ""
            self.error = mapdata.ascii_name(text)
            warnings.warn(text, UserWarning, stacklevel=2)
        verb = "copied" if mode == "copy" else "linked"
        self.status = mapdata.ascii_name(f"export: {len(result.written)} {verb} to {folder}")
        return result.written

    def review_duplicates(self, **kwargs: Any) -> None:
        """Find duplicate groups (``lib.duplicates(**kwargs)``: exact, near, similar) in the
        background and open the review in the widget; each group shows a suggested keeper
        (largest resolution, then file size, then oldest ``taken``). The groups are
        :attr:`duplicate_groups`, the decisions :attr:`duplicate_choices`. Deletes nothing."""
        lib, host = self._lib, self._host
        version = self._data_version

        def run(job: Any) -> None:
            found = lib.duplicates(**kwargs)
            if not job.cancelled and version == self._data_version:
                host.review_ready(found)

        self._work.runner.start("duplicates", run, progress="duplicates", initial="computing")

    @property
    def duplicate_groups(self) -> list[dupreview.DuplicateGroup]:
        """The groups of the last :meth:`review_duplicates`: ``{"tier", "rows", "suggested"}``
        each; a group's index in this list is its key in :attr:`duplicate_choices`."""
        return [{**g, "rows": list(g["rows"])} for g in self._dup_groups]

    @property
    def duplicate_choices(self) -> dict[int, int]:
        """``{group index: kept row}`` of the duplicate review: the suggestion until the user
        picks another image (in the widget or by assigning here). Nothing is deleted."""
        kept = list(self._duplicate_choices)
        return {i: row for i, row in enumerate(kept[: len(self._dup_groups)])}

    @duplicate_choices.setter
    def duplicate_choices(self, choices: dict[int, int]) -> None:
        # a partial dict changes only the groups it names
        self._duplicate_choices = dupreview.check_choices(
            choices, self._dup_groups, list(self._duplicate_choices)
        )

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

    def refresh(self, *, full: bool = False) -> None:
        """Re-read the library (after a scan or edits). When a few rows were added, changed or
        removed (at most ``increments.INCREMENTAL_MAX_SHARE``), only those rows are updated:
        they are placed into the map on screen, the neighbour table and the thumbnails are
        updated for them, and the zoom stays. Otherwise, or with ``full=True``, layout,
        neighbours and thumbnails are recomputed in the background (a freshly trained map).
        The selection keeps the paths that still exist."""
        lib = self._lib
        old_paths, old_prints = self._paths_snapshot, self._prints
        prints = increments.row_prints(lib)
        changes = increments.changes(old_paths, old_prints, lib.paths, prints)
        self._paths_snapshot, self._prints = list(lib.paths), prints
        if changes is not None and not full:
            self._refresh_rows(changes)
            return
        old_sel = [old_paths[r] for r in self.selected if r < len(old_paths)]
        n = len(lib)
        self._work.clear()
        rows = [lib.row_of(p) for p in old_sel]
        grid = layout.map_grid_shape(n)
        with self.hold_sync():
            self._data_version = self._data_version + 1
            self.selected = [r for r in rows if r is not None]
            self.highlighted = []
            self.hovered = None
            self._end_duplicate_review()
            self._show_records()
            self._table = {"idx": np.zeros((n, 0), np.int32), "scores": np.zeros((n, 0))}
        self._host.push_cells(mapdata.row_order_cells(n, *grid), grid)
        self.refresh_filter()
        if n:
            self._work.start_layout(self.mode, self.hybrid_weight)
            self._work.start_table(self.mode, self.hybrid_weight, self.k)
            self._work.start_thumbnails(self.thumb_size)

    def _end_duplicate_review(self) -> None:
        """A refresh renumbers rows: the duplicate groups on screen no longer hold."""
        self._dup_groups = []
        self._duplicate_review = {}
        self._duplicate_choices = []

    def _show_records(self) -> None:
        """The traits read from the records: banner, average colours, sharp sizes."""
        lib = self._lib
        colours = [(r.get("color") or [128, 128, 128])[:3] for r in lib.records]
        self.banner = mapdata.banner_text(lib, can_rescan=self._encoders is not None)
        self._colours = np.asarray(colours, np.uint8).reshape(-1, 3)
        self._sharp_sizes = sharp_sizes_for((r.get("width"), r.get("height")) for r in lib.records)

    def _refresh_rows(self, changes: increments.Changes) -> None:
        """The incremental refresh: same data version (the browser keeps its zoom, atlases and
        the thumbnails of unchanged rows), changed rows placed into the map on screen."""
        old, where = changes.old_paths, changes.row_map()

        def moved(rows: Iterable[int]) -> list[int]:
            paths = (old[r] for r in rows if r < len(old))
            return [where[p] for p in paths if p in where]

        self._work.clear(changes)
        renumbered = changes.shifted < len(old)
        with self.hold_sync():
            self.selected = moved(self.selected)
            self.highlighted = moved(self.highlighted)
            self._end_duplicate_review()
            self.hovered = None
            self._show_records()
            if renumbered:  # the old table names rows by their old numbers
                n = len(self._lib)
                self._table = {"idx": np.zeros((n, 0), np.int32), "scores": np.zeros((n, 0))}
        self.send(rows_reply(changes, self._data_version))
        mode, weight = self.mode, self.hybrid_weight
        if not self._work.place_rescanned(old, changes.changed, mode, weight):
            grid = layout.map_grid_shape(len(self._lib))
            if mode == "custom":  # a custom layout has no cells for the new rows: row order
                self._host.push_cells(mapdata.row_order_cells(len(self._lib), *grid), grid)
            self._work.start_layout(mode, weight)
        self._work.start_table(mode, weight, self.k)
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
        if self._is_closed:
            msg = "rescan: this widget is closed; rescan with vv.scan or a new VectorVision"
            raise RuntimeError(msg)
        if self._work.runner.running("scan"):  # two scans must never write one library at once
            msg = "rescan: a rescan is already running; w.wait() waits for it"
            raise RuntimeError(msg)
        self._work.start_rescan(self._encoders, roots, force)

    def query_image(
        self, image: Any, space: str = "visual", k: int | None = None
    ) -> list[tuple[int, float]]:
        """Highlight the images most like ``image`` (a path, PIL image, array or encoded bytes;
        it need not be in the library), like a search: ``k`` (default ``search_k``) results,
        best first, also returned as (row, score). Needs encoders to embed the new image."""
        if self._encoders is None:
            msg = "query_image needs encoders: VectorVision(lib, encoders=vv.Encoders.load())"
            raise ValueError(msg)
        hits = self._lib.similar_to_image(
            image, encoders=self._encoders, k=self._k(k), space=space, weight=self.hybrid_weight
        )
        what = (
            f"image {Path(os.fspath(image)).name}"
            if isinstance(image, str | os.PathLike)
            else "image"
        )
        self._show_ranking([r for r, _ in hits], what)
        return hits

    def more_like_selection(self, k: int | None = None, space: str | None = None) -> list[int]:
        """ "More like these": highlight the images most like the selected ones (the cosine with
        their centroid, ``lib.similar_to_rows``), keeping what "less like" pushed away from.
        Returns the highlighted rows."""
        sel = self._selection("More like these")
        self._like_pos = list(dict.fromkeys([*self._like_pos, *sel]))
        self._like_neg = [r for r in self._like_neg if r not in set(sel)]
        return self._like(k, space)

    def less_like_selection(self, k: int | None = None, space: str | None = None) -> list[int]:
        """ "Less like these": rank again, away from the selected images (``negative=`` of
        ``lib.similar_to_rows``), towards the last "more like" images or else the current
        highlights that are not selected. Returns the highlighted rows."""
        sel = self._selection("Less like these")
        self._like_neg = list(dict.fromkeys([*self._like_neg, *sel]))
        pos = [r for r in (self._like_pos or self.highlighted) if r not in set(self._like_neg)]
        if not pos:
            msg = (
                "Less like these needs images to be like: search, drop an image or use More like "
                "these first, then select the hits you do not want"
            )
            raise ValueError(msg)
        self._like_pos = pos
        return self._like(k, space)

    def reset_labels(self) -> None:
        """Go back to the computed region labels after assigning your own."""
        self._custom_labels = None
        self._start_labels()

    def refresh_filter(self) -> None:
        """Re-apply ``filter`` and the filter bar's choices (after tags or records changed)."""
        lib = self._lib
        try:
            value, rows = finding.normalise_filter(lib, self.filter)
        except finding.FilterError as err:  # e.g. a folder that left the library
            self.error = mapdata.ascii_name(str(err))
            value, rows = {}, None
        with self.hold_sync():
            self._filter_options = finding.filter_options(lib)
            self._apply_filter(value, rows)

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until background layout, neighbour and thumbnail work is done (for scripts and
        tests; the widget itself never needs it). Returns False on timeout."""
        return self._work.runner.wait(timeout)

    def close(self) -> None:
        """Stop background work and close the widget's connection to the browser. A running
        rescan stops after the file it is reading and saves what it finished; later browser
        messages are ignored and :meth:`rescan` raises."""
        self._is_closed = True
        if hasattr(self, "_work"):
            self._requests.close()
            self._work.runner.cancel_all()
        super().close()

    # ------------------------------------------------------------------ finding helpers

    def _k(self, k: int | None) -> int:
        value: object = self.search_k if k is None else k  # callers may pass anything
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SEARCH_K_MAX:
            msg = f"k must be a whole number from 1 to {SEARCH_K_MAX}, got {k!r}"
            raise ValueError(msg)
        return value

    def _selection(self, what: str) -> list[int]:
        if not self.selected:
            msg = f"{what}: select some images first (click, Ctrl/Cmd-click or Ctrl/Cmd-drag)"
            raise ValueError(msg)
        return list(self.selected)

    def _like(self, k: int | None, space: str | None) -> list[int]:
        space_ = space or ("semantic" if self.mode == "semantic" else "visual")
        hits = self._lib.similar_to_rows(
            self._like_pos,
            k=self._k(k),
            space=space_,
            negative=self._like_neg or None,
            weight=self.hybrid_weight,
        )
        rows = [r for r, _ in hits]
        what = f"more like {len(self._like_pos)}"
        if self._like_neg:
            what += f", less like {len(self._like_neg)}"
        self._show_ranking(rows, what, keep_feedback=True)
        return rows

    def _show_ranking(self, rows: list[int], what: str, *, keep_feedback: bool = False) -> None:
        """Highlight a ranking that is not a text or colour search (image query, more/less)."""
        likes = (self._like_pos, self._like_neg)
        with self.hold_sync():
            self.query = ""
            self.colour_query = ""
            self.search_total = None
            self._hit_what = what
            self.highlighted = rows
            self.error = ""
        if keep_feedback:
            self._like_pos, self._like_neg = likes

    def _apply_filter(self, value: dict[str, Any], rows: list[int] | None) -> None:
        self._filter_rows = rows
        with self.hold_sync():
            if value != self.filter:
                self.set_trait("filter", value)
            self.filter_count = None if rows is None else len(rows)
            self._filter_mask = finding.pack_rows(rows, len(self._lib))

    def _start_labels(self) -> None:
        """Recompute the region labels for the current layout in a background job (custom
        labels without x/y are re-placed at their rows' cells instead)."""
        lib, work = self._lib, self._work
        if self._custom_labels is not None:
            try:
                self._place_labels(self._check_labels(self._custom_labels))
            except ValueError as err:
                self.error = mapdata.ascii_name(f"labels: {err}")
            return
        cells, grid = self.cells, (self._grid[0], self._grid[1])
        mode, weight = self.mode, self.hybrid_weight
        if len(cells) != len(lib) or not len(lib):
            self._place_labels([])
            return

        def run(job: Any) -> None:
            if job.cancel_event.wait(0.15) or work.runner.running("layout"):
                return  # a newer layout is coming: its end starts the labels again
            version = lib.rows_version
            if self._kw_index is None or self._kw_index[0] != version:
                self._kw_index = (version, labelling.keyword_index(lib.records))
            if mode in ("custom", "colour"):
                X = lib.clustering_features() if mode == "custom" else None
            else:
                X, _note = mapdata.mode_vectors(lib, mode, weight)
            out = labelling.region_labels(cells, grid, X, self._kw_index[1])
            if not job.cancelled and self._custom_labels is None:
                self._place_labels(out)

        work.runner.start("labels", run)

    def _place_labels(self, value: list[dict[str, Any]]) -> None:
        """Set ``labels`` from the widget's own work (not a user's custom labels)."""
        with self._host._lock:
            self._placing_labels = True
            try:
                self.set_trait("labels", value)
            finally:
                self._placing_labels = False

    def _check_labels(self, value: object) -> list[dict[str, Any]]:
        cells = self._cells
        n = len(self._lib)
        cell_of = (lambda r: (int(cells[r][0]), int(cells[r][1]))) if len(cells) == n else None
        return labelling.check_labels(value, n, cell_of)

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

    @traitlets.validate("labels")
    def _valid_labels(self, proposal: Any) -> list[dict[str, Any]]:
        try:
            value = self._check_labels(proposal["value"])
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None
        if not self._placing_labels:  # from Python or the browser: yours until reset_labels()
            self._custom_labels = [dict(x) for x in proposal["value"]]
            self._work.runner.cancel("labels")
        return value

    @traitlets.validate("filter")
    def _valid_filter(self, proposal: Any) -> dict[str, Any]:
        try:
            value, rows = finding.normalise_filter(self._lib, proposal["value"])
        except finding.FilterError as err:
            raise traitlets.TraitError(str(err)) from None
        self._filter_rows = rows
        return value

    @traitlets.validate("mode")
    def _valid_mode(self, proposal: Any) -> str:
        value = proposal["value"]
        if value == "custom":
            return "custom"
        try:
            return check_mode(value)
        except ValueError as err:
            raise ModeError(f"layout {err}") from None

    @traitlets.validate("_duplicate_choices")
    def _valid_choices(self, proposal: Any) -> list[int]:
        kept = [int(r) for r in proposal["value"]]
        groups = self._dup_groups
        if len(kept) != len(groups):
            msg = f"duplicate choices: got {len(kept)} for {len(groups)} groups"
            raise traitlets.TraitError(msg)
        for i, (row, g) in enumerate(zip(kept, groups, strict=True)):
            if row not in g["rows"]:
                msg = f"duplicate choices: row {row} is not in group {i} {g['rows']}"
                raise traitlets.TraitError(msg)
        return kept

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
        name, raw = proposal["trait"].name, proposal["value"]
        value = int(raw)
        lo, hi = {
            "k": (1, 100),
            "search_k": (1, SEARCH_K_MAX),
            "thumb_size": THUMB_SIZES,
            "height": HEIGHT_BOUNDS,
        }[name]
        if not lo <= value <= hi:
            msg = f"{name} must be between {lo} and {hi}, got {shown_number(raw)}"
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

    def _on_filter(self, _change: Any) -> None:
        self._apply_filter(self.filter, self._filter_rows)

    def _on_hovered(self, change: Any) -> None:
        for cb in list(self._hover_callbacks):
            try:
                cb(change["new"])
            except Exception as err:  # the user's callback: shown, never raised into the caller
                name = getattr(cb, "__qualname__", type(cb).__name__)
                self.error = mapdata.ascii_name(f"on_hover {name}: {type(err).__name__}: {err}")

    def _on_query(self, _change: Any) -> None:
        text = self.query.strip()
        if text:
            self._hit_what = ""
            self._like_pos, self._like_neg = [], []
        if not text:
            self.search_total = None
            self._work.runner.cancel("search")
            if not self.colour_query:
                self.highlighted = []
            return
        self._work.start_search(text, self.search_k, self._encoders)

    def _on_colour(self, _change: Any) -> None:
        colour = self.colour_query.strip()
        if colour:
            self._hit_what = ""
            self.search_total = None
            self._like_pos, self._like_neg = [], []
        if not colour:
            self._work.runner.cancel("colour")
            if not self.query:
                self.highlighted = []
            return
        self._work.start_colour(colour, self.search_k)

    # ------------------------------------------------------------------ sharing

    def save_html(
        self,
        path: str | os.PathLike[str],
        *,
        title: str | None = None,
        tooltip_px: int = 128,
        max_bytes: int = 200 * 2**20,
        timeout: float | None = 300.0,
    ) -> int:
        """Write this map as ONE self-contained HTML file that works with no kernel (pan, zoom,
        Shift+Hover, tooltips, selection, search by name / keyword); returns its size in bytes.

        Waits for background work first (``timeout`` s). Each image keeps a thumbnail of
        ``tooltip_px`` px (0: none); a file over ``max_bytes`` is refused
        (``export.ExportTooLargeError``, nothing written). See docs/notebooks.md."""
        from vectorvision_widget.widget.export import save_html

        size = save_html(
            self, path, title=title, tooltip_px=tooltip_px, max_bytes=max_bytes, timeout=timeout
        )
        print(f"saved map: {os.fspath(path)} ({size / 2**20:.1f} MB)")
        return size


class _WidgetHost:
    """The widget as its background work and browser requests see it (``mapwork.MapHost``,
    ``requests.WidgetSide``): results land in traits here, nowhere else."""

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

    def query_image_bytes(self, data: bytes, name: str, space: str) -> None:
        """A file dropped or pasted on the map: embed and rank in a job (not on the kernel's
        message thread)."""
        w = self._w
        if w._encoders is None:
            msg = "dropping an image needs encoders: VectorVision(lib, encoders=vv.Encoders.load())"
            raise ValueError(msg)
        encoders, lib, k, weight = w._encoders, w.library, w.search_k, w.hybrid_weight

        def run(job: Any) -> None:
            hits = lib.similar_to_image(data, encoders=encoders, k=k, space=space, weight=weight)
            if not job.cancelled:
                w._show_ranking([r for r, _ in hits], f"image {name}" if name else "image")

        w._work.runner.start("search", run)

    def like(self, more: bool) -> None:
        if more:
            self._w.more_like_selection()
        else:
            self._w.less_like_selection()

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
        if key == "som" and value is None:  # a layout ended: label the map it left
            w._start_labels()

    def show_error(self, text: str) -> None:
        self._w.error = mapdata.ascii_name(text)

    @property
    def selected_rows(self) -> list[int]:
        return list(self._w.selected)

    def review_duplicates(self) -> None:
        self._w.review_duplicates()

    def review_ready(self, found: dict[str, list[list[int]]]) -> None:
        """Duplicate groups found: suggestions, the review payload and the choices, at once."""
        w = self._w
        lib = w.library
        records = lib.records
        groups = dupreview.review_groups(found, records)
        w._dup_serial += 1
        payload = dupreview.review_payload(groups, records, lib.paths, w._dup_serial)
        counts = ", ".join(f"{t} {sum(g['tier'] == t for g in groups)}" for t in dupreview.TIERS)
        with self._lock, w.hold_sync():
            w._dup_groups = groups
            w._duplicate_choices = [g["suggested"] for g in groups]
            w._duplicate_review = payload
        self.show_status(f"duplicate review: {len(groups)} groups ({counts}); nothing is deleted")

    def show_status(self, text: str) -> None:
        self._w.status = mapdata.ascii_name(text)

    def push_cells(self, cells: np.ndarray, grid: tuple[int, int]) -> None:
        w = self._w
        with self._lock, w.hold_sync():
            w._grid = [int(grid[0]), int(grid[1])]
            w._cells = np.asarray(cells, np.int32).reshape(-1, 2)
            w._overview.cells_changed(cells, grid)
        w._overview.schedule()  # outside the lock: job progress takes it under the runner's
        if not w._work.runner.running("layout"):  # a cached, custom or first layout
            w._start_labels()

    def push_table(self, idx: np.ndarray, scores: np.ndarray) -> None:
        self._w._table = {"idx": idx, "scores": scores}

    def push_atlas(self, atlas: Atlas, version: int) -> None:
        self._w.send(atlas_reply(atlas, version), [atlas.jpeg])
        self._w._overview.schedule()

    def push_hits(self, rows: list[int], query: str, colour: str, total: int | None = None) -> None:
        w = self._w
        if (query and query != w.query.strip()) or (colour and colour != w.colour_query.strip()):
            return  # a newer search replaced this one
        with self._lock, w.hold_sync():
            w.search_total = total
            w.highlighted = rows
            w.error = ""

    def scanned(self, report: Any, saved_to: str | None) -> None:
        w = self._w
        w.last_scan = report
        added, updated = len(report.added), len(report.updated)
        removed, failed = len(report.removed), len(report.failed)
        changed = bool(added or updated or removed)
        text = f"rescan: {added} added, {updated} updated, {removed} removed, {failed} failed"
        if not changed:  # nothing to redo: the map, its zoom, table and thumbnails stay
            text = f"rescan: nothing changed ({report.unchanged} unchanged, {failed} failed)"
        if saved_to:
            text += f"; saved to {saved_to}"
        elif not getattr(w.library, "path", None):
            text += "; not saved (the library has no file: lib.save(path) keeps it)"
        self.show_status(text)
        if failed:
            self.show_error(f"rescan: {failed} file(s) could not be read (see w.last_scan.failed)")
        if changed:  # a forced rescan re-embedded everything: a fresh map, as asked
            share = (added + updated + removed) / max(1, len(w.library), len(w._paths_snapshot))
            w.refresh(full=share > increments.INCREMENTAL_MAX_SHARE)
