"""What the map shows for each layout mode: the vectors a SOM is trained on, the neighbour table
behind Shift+Hover, and the background jobs that compute them without blocking the kernel.

Modes: ``visual`` (DINOv2 look, the default), ``semantic`` (SigLIP meaning), ``hybrid`` (both,
weighted by ``hybrid_weight`` = share of *look*), ``colour`` (CIELAB of each image's average
colour). Shift+Hover uses the visual table in visual/colour mode, the semantic one in semantic
mode and the weighted hybrid one in hybrid mode.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from . import layout

__all__ = ["MODES", "Job", "colour_vectors", "mode_vectors", "neighbours", "row_order_cells"]

MODES = ("visual", "semantic", "hybrid", "colour")


def _visual(lib: Any) -> tuple[np.ndarray, str]:
    """Clustering vectors plus the banner text when visual features are missing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = lib.clustering_features()
    note = next((str(w.message) for w in caught if "rescan" in str(w.message)), "")
    return np.asarray(X, dtype=np.float32), note


def colour_vectors(lib: Any) -> np.ndarray:
    """(N, 3) CIELAB of each record's average colour scaled to ~unit range (grey if unknown)."""
    from . import colors

    rgb = np.array(
        [(r.get("color") or [128, 128, 128])[:3] for r in lib.records], dtype=np.float64
    ).reshape(-1, 3)
    return (np.asarray(colors.rgb_to_lab(rgb), dtype=np.float32) / 100.0).astype(np.float32)


def mode_vectors(lib: Any, mode: str, weight: float) -> tuple[np.ndarray, str]:
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
        return np.hstack([np.sqrt(w) * vis, np.sqrt(1.0 - w) * sem]).astype(np.float32), note
    return vis, note


def neighbours(lib: Any, mode: str, weight: float, k: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(idx int32 (N, k), scores float32 (N, k), note) for Shift+Hover in ``mode``."""
    from . import similarity

    n = len(lib)
    k = max(0, min(int(k), n - 1))
    if k == 0:
        return np.zeros((n, 0), np.int32), np.zeros((n, 0), np.float32), ""
    if mode == "semantic":
        idx, scores = similarity.neighbour_table(np.asarray(lib.features, np.float32), k)
        return np.asarray(idx, np.int32), np.asarray(scores, np.float32), ""
    vis, note = _visual(lib)
    if mode == "hybrid":
        sem = np.asarray(lib.features, np.float32)
        table = similarity.HybridNeighbours(vis, sem, k).table(float(weight))
        idx, scores = table
    else:
        idx, scores = similarity.neighbour_table(vis, k)
    return np.asarray(idx, np.int32), np.asarray(scores, np.float32), note


def row_order_cells(n: int, rows: int, cols: int) -> np.ndarray:
    """Placeholder layout (row-major fill) shown until the SOM's first report arrives."""
    del rows
    r, c = np.divmod(np.arange(n, dtype=np.int64), max(cols, 1))
    return np.stack([r, c], axis=1).astype(np.int32)


def train_layout(
    X: np.ndarray,
    grid: tuple[int, int],
    on_cells: Callable[[np.ndarray, int, int], None],
    cancelled: Callable[[], bool],
) -> np.ndarray:
    """Train a SOM on X, reporting cells after each epoch (so images visibly move), and return
    the final unique cells. Small inputs (N < 2) need no training."""
    from . import som

    n = X.shape[0]
    rows, cols = grid
    if n < 2:
        return row_order_cells(n, rows, cols)
    model = som.SOM(rows, cols, seed=0)

    def report(epoch: int, n_epochs: int, qe: float, cells: Any) -> None:
        del qe
        if not cancelled() and cells is not None:
            on_cells(np.asarray(cells, np.int32), int(epoch), int(n_epochs))

    handle = model.fit_async(X, on_progress=report, every=1)
    while not handle.done():
        if cancelled():
            handle.cancel()
            break
        threading.Event().wait(0.05)
    handle.result()
    return np.asarray(model.cells, np.int32)


def unique_cells(cells: np.ndarray) -> bool:
    """True when no two rows share a cell."""
    if cells.shape[0] == 0:
        return True
    keys = cells[:, 0].astype(np.int64) * (int(cells[:, 1].max()) + 1) + cells[:, 1]
    return np.unique(keys).size == keys.size


def cells_for(coords: Any, grid: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
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


class Job:
    """A cancellable daemon thread; a newer job of the same kind cancels the older one."""

    def __init__(self, target: Callable[[Job], None], name: str) -> None:
        self._cancel = threading.Event()
        self.error: BaseException | None = None
        self._target = target
        self.thread = threading.Thread(target=self._run, name=f"vv-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._target(self)
        except BaseException as err:  # reported in the widget, never raised into the kernel
            self.error = err

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()
