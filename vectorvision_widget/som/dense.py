"""Dense maps: a SOM on a coarser grid, then an order-preserving fill of the display grid.

Why: a SOM with one node per cell leaves the cells between clusters empty (31 % at fill 0.7),
which reads as confetti, and squeezing more images per cell into it tears clusters apart. Here a
SOM trains on a grid :data:`COARSE` times coarser (about four images per node), each image gets a
continuous position on it (its best node shifted towards the better of that node's 8
neighbours), and :func:`layout.partition_cells` (a capacity-aware k-d split) gives every image
its own display cell in that order. Clusters come out as compact patches on a grid with only
``1 - fill`` empty cells, and 10-nearest-neighbour locality is better than the one-node-per-cell
map's (``benchmarks/bench_layout.py``).

The same finish serves the two cheap updates the widget needs:
- :func:`warm_layout`: a few epochs at a narrow neighbourhood starting from the current cells
  (hybrid slider, mode change): best nodes are searched only near each image's current place,
  so images stay near their places and an update costs a fraction of a fresh map;
- :func:`place_rows`: new or changed rows go to the nearest free cells of their best-matching
  units; every other row keeps its cell (incremental rescan).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError

import numpy as np

from vectorvision_widget.som.cells import refine_update
from vectorvision_widget.som.layout import (
    DENSE_FILL,
    assign_unique,
    default_grid_shape,
    grid_refill,
    partition_cells,
    window,
)
from vectorvision_widget.som.map import SOM
from vectorvision_widget.som.training import Cancelled, as_data, best

#: Display cells per coarse node along each axis (about COARSE² · fill images per node).
COARSE = 2
#: Warm start: neighbourhood (coarse nodes) per epoch, and the search radius around each
#: image's current node. Narrow on purpose: the map is already ordered, it only has to adapt.
WARM_SIGMAS = (1.5, 1.0, 0.8)
WARM_RADIUS = 2
#: Tile side (coarse nodes) of the blocked local search: one BLAS product per tile.
_TILE = 16

OnCells = Callable[[np.ndarray, int, int], None]
"""on_cells(cells, epoch, n_epochs): unique display cells of a progress frame."""


def coarse_shape(rows: int, cols: int) -> tuple[int, int]:
    """The coarse training grid for a ``rows`` × ``cols`` display grid (at least 2×2)."""
    return max(2, math.ceil(rows / COARSE)), max(2, math.ceil(cols / COARSE))


def default_layout(X: np.ndarray, *, fill: float | None = None, seed: int = 0) -> SOM:
    """The widget's default map of X (N, D): a dense map (``som.dense.dense_layout``) on the
    ``layout.default_grid_shape(N, fill)`` grid (default fill ``layout.DENSE_FILL``).

    One call for benchmarks (bench_million, bench_layout) and scripts; ``.cells`` holds every
    row's own cell on the ``.rows`` × ``.cols`` grid, with only ``1 - fill`` of the cells empty
    (default fill 0.95). A SOM trains on a grid half as fine, then the rows fill the display
    grid in its order, so time grows about linearly with N (see bench_som ``--scale``).
    """
    data = as_data(X)
    rows, cols = default_grid_shape(data.shape[0], DENSE_FILL if fill is None else fill)
    return dense_layout(data, rows, cols, seed=seed)


def dense_layout(
    X: np.ndarray,
    rows: int,
    cols: int,
    *,
    seed: int = 0,
    on_cells: OnCells | None = None,
    stop: threading.Event | None = None,
) -> SOM:
    """A dense map of X (N, D) on ``rows`` × ``cols`` (rows·cols >= N): see the module doc.

    Returns a fitted display-size :class:`SOM` (``weights`` follow the rows' cells, ``cells``
    unique, ``bmus`` the best cell near each row's own). ``on_cells`` gets progress frames from
    the coarse training; setting ``stop`` ends the work within milliseconds with
    ``CancelledError``.
    """
    data = as_data(X)
    n = data.shape[0]
    if rows * cols < n:
        msg = f"dense_layout: a {rows}×{cols} grid cannot hold {n} rows; use rows*cols >= {n}"
        raise ValueError(msg)
    cr, cc = coarse_shape(rows, cols)
    if n < 2 or cr * cc < 4:
        return _finish_trivial(data, rows, cols, seed)
    coarse = SOM(cr, cc, seed=seed, unique=False)

    def report(epoch: int, n_epochs: int, _qe: float, cells: np.ndarray | None) -> None:
        if on_cells is not None and cells is not None:
            pos = (np.asarray(cells, np.float64) + 0.5) * (rows / cr, cols / cc) - 0.5
            on_cells(partition_cells(pos, rows, cols), epoch, n_epochs)

    coarse.fit(data, on_progress=report if on_cells is not None else None, stop=stop)
    assert coarse.weights is not None and coarse.bmus is not None
    centre = coarse.bmus[:, 0].astype(np.int64) * cc + coarse.bmus[:, 1]
    W = coarse.weights
    x2 = np.einsum("ij,ij->i", data, data)
    return _cancellable(
        lambda: _finish(data, W, local_best(data, x2, W, centre, 0, stop), (rows, cols), seed)
    )


def warm_layout(
    X: np.ndarray,
    cells: np.ndarray,
    rows: int,
    cols: int,
    *,
    seed: int = 0,
    stop: threading.Event | None = None,
) -> SOM:
    """A dense map of X (N, D, any D) started from the current ``cells`` (N, 2) on the same grid.

    The coarse map is initialised as the neighbourhood means of X around the current places,
    then :data:`WARM_SIGMAS` batch epochs run with best nodes searched within
    :data:`WARM_RADIUS` nodes of each row's current one. Cost: a few products of each row with
    ~(8 + 2r)² nodes, not with the whole map, so a hybrid weight change at 20k takes well under
    a second and most images move only a few cells.
    """
    data = as_data(X)
    cells = np.asarray(cells, np.int64)
    n = data.shape[0]
    if cells.shape != (n, 2) or (n and (cells.min() < 0 or cells[:, 0].max() >= rows)):
        msg = f"warm_layout: cells must be (N, 2) = ({n}, 2) cells of a {rows}×{cols} grid"
        raise ValueError(msg)
    if n and cells[:, 1].max() >= cols:
        msg = f"warm_layout: cells must be (N, 2) = ({n}, 2) cells of a {rows}×{cols} grid"
        raise ValueError(msg)
    cr, cc = coarse_shape(rows, cols)
    if n < 2 or rows * cols < n or cr * cc < 4:
        return dense_layout(data, max(rows, 1), max(cols, 1), seed=seed, stop=stop)
    x2 = np.einsum("ij,ij->i", data, data)
    start = (cells[:, 0] * cr // rows) * cc + cells[:, 1] * cc // cols

    def run() -> SOM:
        centre = start
        W = np.zeros((cr, cc, data.shape[1]), np.float32)
        W[...] = data.mean(axis=0)
        refine_update(data, centre, W, WARM_SIGMAS[0])
        for sigma in WARM_SIGMAS[1:]:
            centre = local_best(data, x2, W, centre, WARM_RADIUS, stop)[0]
            refine_update(data, centre, W, sigma)
        best3 = local_best(data, x2, W, centre, WARM_RADIUS, stop)
        return _finish(data, W, best3, (rows, cols), seed)

    return _cancellable(run)


def place_rows(
    weights: np.ndarray, cells: np.ndarray, rows_to_place: np.ndarray, X: np.ndarray
) -> tuple[np.ndarray, tuple[int, int]]:
    """Place ``rows_to_place`` (their vectors X (m, D)) on a trained map; keep every other cell.

    weights: the map (R, C, D) the cells came from; cells: (N, 2) for every row of the new
    library (entries of ``rows_to_place`` are ignored, e.g. -1). Each placed row takes the free
    cell nearest to its best-matching unit. When the rows no longer fit, the grid grows (new
    rows/cols at the bottom/right, their weights copied from the edge) and old cells stay put.
    Returns (cells (N, 2) int32, (rows, cols)). Nothing to place returns the cells unchanged.
    """
    W = np.asarray(weights, np.float32)
    out = np.array(cells, dtype=np.int64, copy=True).reshape(-1, 2)
    todo = np.unique(np.asarray(rows_to_place, np.int64).ravel())
    data = np.asarray(X, np.float32).reshape(todo.size, -1) if todo.size else None
    R, C, D = W.shape
    n = out.shape[0]
    if todo.size and (todo.min() < 0 or todo.max() >= n):
        msg = f"place_rows: rows_to_place must lie in 0..{n - 1}, got {todo.min()}..{todo.max()}"
        raise ValueError(msg)
    if data is None:
        return out.astype(np.int32), (R, C)
    if data.shape[1] != D:
        msg = f"place_rows: X has {data.shape[1]} columns but the map was trained on {D}"
        raise ValueError(msg)
    keep = np.ones(n, bool)
    keep[todo] = False
    old = out[keep]
    if old.size and (old.min() < 0 or old[:, 0].max() >= R or old[:, 1].max() >= C):
        msg = f"place_rows: the kept rows' cells must lie on the {R}×{C} map"
        raise ValueError(msg)
    if n > R * C:
        side = math.ceil(math.sqrt(n / 0.95))
        R2, C2 = max(R, side), max(C, side)
        W = np.pad(W, ((0, R2 - R), (0, C2 - C), (0, 0)), mode="edge")
        R, C = R2, C2
    data = as_data(data)
    bmu, _ = best(data, np.einsum("ij,ij->i", data, data), W.reshape(R * C, D), None)
    centres = np.stack(np.divmod(bmu, C), axis=1)
    taken = np.zeros(R * C, bool)
    taken[old[:, 0] * C + old[:, 1]] = True
    cand, _, _ = window(centres, R, C, 2)

    def cost_fn(items: np.ndarray, ids: np.ndarray) -> np.ndarray:
        r, c = np.divmod(np.maximum(ids, 0), C)
        d2: np.ndarray = (r - centres[items, :1]) ** 2 + (c - centres[items, 1:]) ** 2.0
        return d2

    ids = assign_unique(
        cand,
        cost_fn(np.arange(todo.size), cand),
        R * C,
        grid_refill(centres, cost_fn, R, C),
        taken=taken,
    )
    out[todo] = np.stack(np.divmod(ids, C), axis=1)
    return out.astype(np.int32), (R, C)


def local_best(
    X: np.ndarray,
    x2: np.ndarray,
    W: np.ndarray,
    centre: np.ndarray,
    radius: int,
    stop: threading.Event | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best node of each row within ``radius`` nodes of its centre, plus the 3×3 around it.

    W: (r, c, D); centre: (N,) node id near which each row's best node lies. Rows are grouped
    by the :data:`_TILE`² tile of their centre, so each tile is one BLAS product of its rows
    with ~(16 + 2r + 2)² nodes (a product per row would be ~20× slower on a busy machine).
    Returns (best node ids (N,), 3×3 window ids (N, 9) with -1 off the grid, their squared
    distances (N, 9) with inf off the grid).
    """
    r, c, d = W.shape
    flat = W.reshape(r * c, d)
    half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
    cr, cc = np.divmod(centre, c)
    tiles_c = -(-c // _TILE)
    key = (cr // _TILE) * tiles_c + cc // _TILE
    order = np.argsort(key, kind="stable")
    keys, starts = np.unique(key[order], return_index=True)
    ends = np.append(starts[1:], order.size)
    idx = np.empty(X.shape[0], np.int64)
    win = np.empty((X.shape[0], 9), np.int64)
    cost = np.empty((X.shape[0], 9), np.float64)
    for k, s0, s1 in zip(keys.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if stop is not None and stop.is_set():
            raise Cancelled
        tr, tc = divmod(k, tiles_c)
        # search rows [a0, a1) × cols [b0, b1); the block keeps one more node around for 3×3
        a0, a1 = max(0, tr * _TILE - radius), min(r, (tr + 1) * _TILE + radius)
        b0, b1 = max(0, tc * _TILE - radius), min(c, (tc + 1) * _TILE + radius)
        g0, g1, h0, h1 = max(0, a0 - 1), min(r, a1 + 1), max(0, b0 - 1), min(c, b1 + 1)
        bw = h1 - h0
        nodes = (np.arange(g0, g1)[:, None] * c + np.arange(h0, h1)[None, :]).ravel()
        items = order[s0:s1]
        g = X[items] @ flat[nodes].T
        g -= half_w2[nodes]
        br, bc = np.divmod(np.arange(nodes.size), bw)
        near = (np.abs(br[None, :] + g0 - cr[items, None]) <= radius) & (
            np.abs(bc[None, :] + h0 - cc[items, None]) <= radius
        )
        i = np.where(near, g, -np.inf).argmax(axis=1)
        idx[items] = nodes[i]
        ids, wr, wc = window(np.stack([br[i] + g0, bc[i] + h0], axis=1), r, c, 1)
        local = np.clip(wr - g0, 0, g1 - g0 - 1) * bw + np.clip(wc - h0, 0, bw - 1)
        sc = np.take_along_axis(g, local, axis=1).astype(np.float64)
        win[items] = ids
        cost[items] = np.where(ids >= 0, np.maximum(x2[items, None] - 2.0 * sc, 0.0), np.inf)
    return idx, win, cost


def upsample(W: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear resampling of (r, c, D) weights to (rows, cols, D) by two-tap blends per axis
    (memory-bound; ``training.resample``'s small batched products crawl on a busy machine)."""

    def axis(a: np.ndarray, n_new: int, ax: int) -> np.ndarray:
        n_old = a.shape[ax]
        if n_old == 1:
            return np.repeat(a, n_new, axis=ax)
        t = np.linspace(0.0, n_old - 1, n_new)
        lo = np.minimum(np.floor(t).astype(np.int64), n_old - 2)
        shape = [1, 1, 1]
        shape[ax] = n_new
        f = (t - lo).astype(np.float32).reshape(shape)
        out: np.ndarray = np.take(a, lo, axis=ax) * (1.0 - f) + np.take(a, lo + 1, axis=ax) * f
        return out

    return np.ascontiguousarray(axis(axis(W, rows, 0), cols, 1), dtype=np.float32)


def _positions(ids: np.ndarray, cost: np.ndarray, c: int) -> np.ndarray:
    """Continuous (row, col) on the coarse grid: each row's best node moved towards the nodes
    around it that fit it almost as well (softmax of the 3×3 squared distances, temperature
    the median gap between best and second best)."""
    lo = cost.min(axis=1, keepdims=True)
    gap = np.partition(cost, 1, axis=1)[:, 1:2] - lo
    finite = gap[np.isfinite(gap)]
    temp = float(np.median(finite)) if finite.size else 1.0
    wts = np.exp(-(cost - lo) / max(temp, 1e-12))
    wts[~np.isfinite(cost)] = 0.0
    wts /= wts.sum(axis=1, keepdims=True)
    gr, gc = np.divmod(np.maximum(ids, 0), c)
    return np.stack([(wts * gr).sum(axis=1), (wts * gc).sum(axis=1)], axis=1)


def _finish(
    X: np.ndarray,
    Wc: np.ndarray,
    best3: tuple[np.ndarray, np.ndarray, np.ndarray],
    display: tuple[int, int],
    seed: int,
) -> SOM:
    """From a coarse map and each row's best coarse node with its 3×3 costs (``local_best``)
    to a display-size SOM with unique cells: positions, k-d fill, display weights that follow
    the cells. ``bmus`` are the best coarse nodes scaled onto the display grid (a display-wide
    search would cost as much as the whole update)."""
    rows, cols = display
    cr, cc, _ = Wc.shape
    centre, win, cost = best3
    scale = np.array([rows / cr, cols / cc])
    pos = (_positions(win, cost, cc) + 0.5) * scale - 0.5
    cells = partition_cells(pos, rows, cols).astype(np.int64)
    W = upsample(Wc, rows, cols)
    refine_update(X, cells[:, 0] * cols + cells[:, 1], W, 1.0)
    node = (np.stack(np.divmod(centre, cc), axis=1) + 0.5) * scale - 0.5
    som = SOM(rows, cols, seed=seed)
    som.weights = W
    som.bmus = np.clip(np.rint(node), 0, [rows - 1, cols - 1]).astype(np.int32)
    som.cells = cells.astype(np.int32)
    return som


def _cancellable(work: Callable[[], SOM]) -> SOM:
    """Run ``work``; its internal ``Cancelled`` becomes ``CancelledError`` (as ``SOM.fit``)."""
    try:
        return work()
    except Cancelled:
        msg = "layout was cancelled"
        raise CancelledError(msg) from None


def _finish_trivial(X: np.ndarray, rows: int, cols: int, seed: int) -> SOM:
    """Tiny inputs or grids: the plain SOM (nothing to coarsen)."""
    return SOM(rows, cols, seed=seed).fit(X)
