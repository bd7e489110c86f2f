"""What the map shows for each layout mode: the vectors a SOM is trained on, the neighbour table
behind Shift+Hover, and which files the widget may open.

Modes: ``visual`` (DINOv2 look, the default), ``semantic`` (SigLIP meaning), ``hybrid`` (both,
weighted by ``hybrid_weight`` = share of *look*), ``colour`` (CIELAB of each image's average
colour). Shift+Hover uses the visual table in visual/colour mode, the semantic one in semantic
mode and the weighted hybrid one in hybrid mode.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Collection, Sequence

import numpy as np

import vectorvision_widget.som.layout as layout
from vectorvision_widget.library.store import Library
from vectorvision_widget.modes import MODES

__all__ = [
    "MODES",
    "banner_text",
    "cells_for",
    "colour_vectors",
    "file_problem",
    "mode_vectors",
    "neighbours",
    "placed_rows",
    "row_order_cells",
    "safe_paths",
    "table_vectors",
    "train_layout",
]


def _visual(lib: Library) -> tuple[np.ndarray, str]:
    """Clustering vectors plus the banner text when visual features are missing: the rule of
    ``lib.clustering_features`` (visual vectors when every image has one), with its note
    returned rather than warned (warnings are no data channel on a job thread)."""
    missing = lib.missing_visual_count
    if len(lib) and lib.visual_dim and missing == 0:
        return np.asarray(lib.visual_features, dtype=np.float32), ""
    note = f"using features for clustering: {missing} images need a rescan" if len(lib) else ""
    return np.asarray(lib.features, dtype=np.float32), note


def colour_vectors(lib: Library) -> np.ndarray:
    """(N, 3) CIELAB of each record's average colour scaled to ~unit range (grey if unknown)."""
    import vectorvision_widget.images.colors as colors

    rgb = np.array(
        [(r.get("color") or [128, 128, 128])[:3] for r in lib.records], dtype=np.float64
    ).reshape(-1, 3)
    return (np.asarray(colors.rgb_to_lab(rgb), dtype=np.float32) / 100.0).astype(np.float32)


def mode_vectors(lib: Library, mode: str, weight: float) -> tuple[np.ndarray, str]:
    """(vectors to lay out, banner note) for ``mode``; hybrid concatenates the two unit spaces
    scaled by sqrt(weight) and sqrt(1-weight) so squared distances mix in that proportion."""
    if mode == "semantic":
        return np.asarray(lib.features, dtype=np.float32), ""
    if mode == "colour":
        return colour_vectors(lib), ""
    vis, note = _visual(lib)
    if mode == "hybrid":
        sem = np.asarray(lib.features, dtype=np.float32)
        w = float(np.clip(weight, 0.0, 1.0))
        # one pass into one new array (a slider move redoes this: no temporaries to stack)
        mixed = np.empty((vis.shape[0], vis.shape[1] + sem.shape[1]), np.float32)
        np.multiply(vis, np.float32(np.sqrt(w)), out=mixed[:, : vis.shape[1]])
        np.multiply(sem, np.float32(np.sqrt(1.0 - w)), out=mixed[:, vis.shape[1] :])
        return mixed, note
    return vis, note


def neighbours(
    lib: Library, mode: str, weight: float, k: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """(idx int32 (N, k), scores float32 (N, k), note) for Shift+Hover in ``mode``. The library
    caches the tables per version; the hybrid one re-ranks its cached candidates for the
    weight (~0.1 s at 100k, not two fresh top-k passes over the library)."""
    n = len(lib)
    k = max(0, min(int(k), n - 1))
    if k == 0:
        return np.zeros((n, 0), np.int32), np.zeros((n, 0), np.float32), ""
    if mode == "semantic":
        idx, scores = lib.neighbour_table(k, "semantic")
        return np.asarray(idx, np.int32), np.asarray(scores, np.float32), ""
    _, note = _visual(lib)
    if mode == "hybrid":
        idx, scores = lib.hybrid_neighbours(k=k).table(float(weight))
    else:  # without every visual vector the visual table is the semantic one
        idx, scores = lib.neighbour_table(k, "semantic" if note else "visual")
    return np.asarray(idx, np.int32), np.asarray(scores, np.float32), note


def table_vectors(lib: Library, space: str, weight: float) -> tuple[np.ndarray, str]:
    """(X, source) for an incremental neighbour table (``neighbours.incremental``): unit rows
    whose dot products are the scores of :func:`neighbours` in ``space`` (hybrid: the unit
    visual and semantic rows scaled by sqrt(weight) and sqrt(1 - weight)); ``source`` names
    the vectors used, so a table made from others (visual features were missing) is redone."""
    from vectorvision_widget.vectors import l2_normalise

    sem = np.asarray(lib.features, dtype=np.float32)
    if space == "semantic":
        return sem, "semantic"
    vis, note = _visual(lib)
    source = "semantic" if note else "visual"
    if space == "hybrid":
        w = float(np.clip(weight, 0.0, 1.0))
        v = l2_normalise(vis, check_finite=False)
        s = l2_normalise(sem, check_finite=False)
        return np.hstack([np.sqrt(w) * v, np.sqrt(1.0 - w) * s]).astype(np.float32), source
    return vis, source


def row_order_cells(n: int, rows: int, cols: int) -> np.ndarray:
    """Placeholder layout (row-major fill) shown until the SOM's first report arrives."""
    del rows
    r, c = np.divmod(np.arange(n, dtype=np.int64), max(cols, 1))
    return np.stack([r, c], axis=1).astype(np.int32)


def train_layout(
    X: np.ndarray,
    grid: tuple[int, int],
    on_cells: Callable[[np.ndarray, int, int], None],
    stop: threading.Event,
    *,
    warm_from: np.ndarray | None = None,
) -> tuple[np.ndarray, Callable[[], np.ndarray] | None]:
    """The dense map of X on this thread (a layout job's): (unique cells, a function returning
    the display weights, or None for N < 2). The weights are computed on the first call (only
    ``placed_rows`` after a rescan needs them; see ``som.dense.DenseMap``). Fresh maps report
    cells during training (so images visibly move); ``warm_from`` (the cells shown now, same
    rows and grid) starts from them instead: a short narrow schedule (``som.warm_map``) that
    keeps images near their places. Setting ``stop`` (the job's cancel event) stops within
    milliseconds: ``CancelledError``. Trains on a private copy of X (the library may change
    meanwhile) unless X is a new writeable array of its own (``mode_vectors``' hybrid mix:
    pass nothing you change later)."""
    import vectorvision_widget.som.dense as dense

    n = X.shape[0]
    rows, cols = grid
    if n < 2:
        return row_order_cells(n, rows, cols), None
    if not np.isfinite(X).all():
        msg = "the layout vectors hold NaN or infinite values; rescan or fix the library"
        raise ValueError(msg)
    fresh = X.dtype == np.float32 and X.flags.c_contiguous and X.flags.owndata
    data = X if fresh and X.flags.writeable else np.array(X, dtype=np.float32, copy=True)
    if warm_from is not None and warm_from.shape == (n, 2):
        made = dense.warm_map(data, warm_from, rows, cols, stop=stop)
    else:
        made = dense.dense_map(data, rows, cols, on_cells=on_cells, stop=stop)
    return made.cells, made.weights


def placed_rows(
    lib: Library,
    mode: str,
    weight: float,
    before: tuple[list[str], np.ndarray, np.ndarray],
    changed: Collection[str],
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Cells for ``lib`` after an incremental rescan without retraining: every image whose path
    was on the map before and is not in ``changed`` keeps its cell; new and changed images go
    to the nearest free cells of their best-matching units (``som.place_rows``).

    before: (paths, cells (N_old, 2), weights (R, C, D)) of the map shown before the rescan.
    None when that map cannot take the new vectors (other dimension): retrain instead.
    """
    import vectorvision_widget.som.dense as dense

    old_paths, old_cells, weights = before
    where = {p: i for i, p in enumerate(old_paths)}
    n = len(lib)
    cells = np.full((n, 2), -1, np.int64)
    todo = []
    for row, path in enumerate(lib.paths):
        i = where.get(path)
        if i is None or path in changed:
            todo.append(row)
        else:
            cells[row] = old_cells[i]
    rows = np.asarray(todo, np.int64)
    if not rows.size:
        return cells.astype(np.int32), (int(weights.shape[0]), int(weights.shape[1]))
    X, _note = mode_vectors(lib, mode, weight)
    if X.shape[1] != weights.shape[2] or not np.isfinite(X[rows]).all():
        return None
    return dense.place_rows(weights, cells, rows, X[rows])


def unique_cells(cells: np.ndarray) -> bool:
    """True when no two rows share a cell."""
    if cells.shape[0] == 0:
        return True
    keys = cells[:, 0].astype(np.int64) * (int(cells[:, 1].max()) + 1) + cells[:, 1]
    return bool(np.unique(keys).size == keys.size)


def cells_for(coords: object, grid: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Cells for :meth:`VectorVision.set_layout`: unique non-negative int (N, 2) cells are used as
    they are (the grid grows to fit them); anything else goes through ``layout.grid_cells``."""
    arr = np.asarray(coords)
    if arr.ndim != 2 or arr.shape[1] != 2:
        msg = f"set_layout expects an (N, 2) array of cells or coordinates, got shape {arr.shape}"
        raise ValueError(msg)
    if np.issubdtype(arr.dtype, np.integer) and (arr.size == 0 or arr.min() >= 0):
        cells = arr.astype(np.int32)
        if unique_cells(cells):
            rows = max(grid[0], int(cells[:, 0].max(initial=-1)) + 1)
            cols = max(grid[1], int(cells[:, 1].max(initial=-1)) + 1)
            return cells, (rows, cols)
    rows, cols = grid
    if rows * cols < arr.shape[0]:
        rows, cols = layout.default_grid_shape(arr.shape[0])
    return np.asarray(layout.grid_cells(arr.astype(np.float64), rows, cols), np.int32), (rows, cols)


def file_problem(path: object) -> str | None:
    """Why the widget must not open ``path`` (None if it may; a missing file may be "opened":
    it becomes a placeholder). Invalid names and non-regular files (FIFOs, sockets, devices)
    are refused before any ``open``, so a FIFO can never block a thumbnail worker."""
    if not isinstance(path, str) or not path:
        return "invalid path"
    if "\x00" in path:
        return "invalid path (NUL byte)"
    try:
        os.fsencode(path)
        st = os.stat(path)
    except UnicodeEncodeError:
        return "invalid path (not encodable: lone surrogate)"
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as err:
        return f"cannot read ({getattr(err, 'strerror', None) or err})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return None


def safe_paths(paths: Sequence[str]) -> tuple[list[str], dict[int, str]]:
    """(paths with every refused one replaced by "" (a placeholder tile), {row: problem})."""
    out: list[str] = []
    bad: dict[int, str] = {}
    for row, p in enumerate(paths):
        problem = file_problem(p)
        if problem is None:
            out.append(p)
        else:
            out.append("")
            bad[row] = problem
    return out, bad


def describe_bad(bad: dict[int, str], paths: Sequence[str], limit: int = 3) -> str:
    """A short message naming the first refused files (names shown with escapes, never raw)."""
    items = [f"{ascii_name(paths[r])} ({why})" for r, why in list(bad.items())[:limit]]
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{len(bad)} file(s) cannot be shown: " + ", ".join(items) + more


def ascii_name(path: object) -> str:
    """``path`` safe to send to the browser: lone surrogates and NUL bytes become escapes."""
    text = path if isinstance(path, str) else repr(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def banner_text(lib: Library, *, can_rescan: bool) -> str:
    """The notice for libraries scanned before visual features existed. Shown in every mode
    (colour mode's Shift+Hover uses the visual table too), so users know why the map looks
    different from a fresh scan and what fixes it."""
    n = len(lib)
    missing = lib.missing_visual_count
    if not n or not missing:
        return ""
    remedy = (
        "click ⟳ to rescan"
        if can_rescan
        else "rescan with vv.scan(folder, lib, encoders=enc, force=True), then w.refresh()"
    )
    count = f"{missing} images need" if missing == n else f"{missing} of {n} images need"
    return (
        f"{count} a rescan: without visual (DINOv2) features, the map and Shift+Hover use "
        f"`features` (SigLIP meaning) instead; {remedy}"
    )
