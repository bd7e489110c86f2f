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
- :func:`warm_layout` (:func:`warm_map` for the widget): a few epochs at a narrow neighbourhood
  starting from the current cells (hybrid slider, mode change): each image's best node is
  searched exactly within the 5×5 nodes around its current place (:func:`window_best`), so
  images stay near their places and an update costs a small fraction of a fresh map;
- :func:`place_rows`: new or changed rows go to the nearest free cells of their best-matching
  units; every other row keeps its cell (incremental rescan).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
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
#: Rows per small product of the local searches (rows sharing a centre node; see
#: ``_window_scores``), and floats per chunk of gathered node windows (bounded memory).
_GROUP = 4
_CHUNK_FLOATS = 1 << 22

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


class DenseMap:
    """A dense map: unique display ``cells`` (N, 2) and ``bmus`` now, the display-size weights
    (the coarse map upsampled, then one batch update on the cells) on first :meth:`weights`.

    Why lazy: only incremental placement (``place_rows`` after a rescan) needs the display
    weights, and computing them costs more than the rest of a warm start (upsampling and
    smoothing a (rows, cols, D) array: ~0.9 s of CPU at 20k × 768). Until then the map keeps
    the vectors it was trained on and its coarse weights (about the same memory).
    """

    def __init__(
        self,
        X: np.ndarray | None,
        coarse: np.ndarray | None,
        cells: np.ndarray,
        bmus: np.ndarray,
        display: tuple[int, int],
        *,
        weights: np.ndarray | None = None,
    ) -> None:
        self.rows, self.cols = display
        self.cells = np.asarray(cells, np.int32)
        self.bmus = np.asarray(bmus, np.int32)
        self._inputs = None if X is None or coarse is None else (X, coarse)
        self._weights = weights
        self._lock = threading.Lock()
        if weights is None and self._inputs is None:
            msg = "DenseMap needs either weights or (X, coarse weights)"
            raise ValueError(msg)

    def weights(self) -> np.ndarray:
        """The display-size weights (rows, cols, D) float32, computed once (thread-safe)."""
        with self._lock:
            if self._weights is None:
                assert self._inputs is not None
                X, coarse = self._inputs
                W = upsample(coarse, self.rows, self.cols)
                ids = self.cells[:, 0].astype(np.int64) * self.cols + self.cells[:, 1]
                refine_update(X, ids, W, 1.0)
                self._weights, self._inputs = W, None
            return self._weights

    def som(self, seed: int = 0) -> SOM:
        """The map as a fitted display-size :class:`SOM` (computes the weights)."""
        som = SOM(self.rows, self.cols, seed=seed)
        som.weights = self.weights()
        som.bmus = self.bmus
        som.cells = self.cells
        return som


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
    return dense_map(X, rows, cols, seed=seed, on_cells=on_cells, stop=stop).som(seed)


def dense_map(
    X: np.ndarray,
    rows: int,
    cols: int,
    *,
    seed: int = 0,
    on_cells: OnCells | None = None,
    stop: threading.Event | None = None,
) -> DenseMap:
    """:func:`dense_layout` as a :class:`DenseMap` (display weights computed when asked for)."""
    data = as_data(X)
    n = data.shape[0]
    if rows * cols < n:
        msg = f"dense_layout: a {rows}×{cols} grid cannot hold {n} rows; use rows*cols >= {n}"
        raise ValueError(msg)
    cr, cc = coarse_shape(rows, cols)
    if n < 2 or cr * cc < 4:
        som = _finish_trivial(data, rows, cols, seed)
        assert som.weights is not None and som.cells is not None and som.bmus is not None
        return DenseMap(None, None, som.cells, som.bmus, (rows, cols), weights=som.weights)
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
        lambda: _finish(data, W, local_best(data, x2, W, centre, 0, stop), (rows, cols))
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
    then :data:`WARM_SIGMAS` batch epochs run with each row's best node searched exactly within
    :data:`WARM_RADIUS` nodes of its current one (:func:`window_best`: 25 nodes per row, not
    the whole map), so most images move only a few cells. The widget uses :func:`warm_map`,
    which leaves the display weights for later (see :class:`DenseMap`).
    """
    return warm_map(X, cells, rows, cols, seed=seed, stop=stop).som(seed)


def warm_map(
    X: np.ndarray,
    cells: np.ndarray,
    rows: int,
    cols: int,
    *,
    seed: int = 0,
    stop: threading.Event | None = None,
) -> DenseMap:
    """:func:`warm_layout` as a :class:`DenseMap` (display weights computed when asked for)."""
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
        return dense_map(data, max(rows, 1), max(cols, 1), seed=seed, stop=stop)
    x2 = np.einsum("ij,ij->i", data, data)
    # each row's search window stays centred on its current place (a 5×5 block of nodes):
    # as good a map as re-centring every epoch (bench_layout), and the groups never change
    start = (cells[:, 0] * cr // rows) * cc + cells[:, 1] * cc // cols

    def run() -> DenseMap:
        W = np.zeros((cr, cc, data.shape[1]), np.float32)
        W[...] = data.mean(axis=0)
        refine_update(data, start, W, WARM_SIGMAS[0])
        for sigma in WARM_SIGMAS[1:]:
            refine_update(data, window_best(data, W, start, WARM_RADIUS, stop), W, sigma)
        return _finish(data, W, local_best(data, x2, W, start, WARM_RADIUS, stop), (rows, cols))

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


def _window_scores(
    X: np.ndarray,
    W: np.ndarray,
    centre: np.ndarray,
    reach: int,
    stop: threading.Event | None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Scores ``x·w − |w|²/2`` (higher = nearer) of each row against the nodes within ``reach``
    (Chebyshev) of its centre node, and nothing else: (rows (m,), node ids (m, K) with -1 off
    the grid, scores (m, K) float32 with -inf off the grid) per chunk, K = (2·reach + 1)².

    Rows sharing a centre go in groups of :data:`_GROUP`; each group is one small product with
    its own window of nodes (one batched ``matmul`` per chunk of groups). Each product stays
    below OpenBLAS's threading threshold, so it runs on the calling thread: threaded BLAS on
    many small products waits for its helper thread on every call (≈ 20× slower on a busy
    machine). Raises :class:`Cancelled` between chunks once ``stop`` is set.
    """
    r, c, d = W.shape
    flat = W.reshape(r * c, d)
    half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
    n = X.shape[0]
    order = np.argsort(centre, kind="stable")
    sc = centre[order]
    first = np.ones(n, bool)
    first[1:] = sc[1:] != sc[:-1]
    pos = np.arange(n)
    rank = pos - np.maximum.accumulate(np.where(first, pos, 0))  # place among its centre's rows
    new = first | (rank % _GROUP == 0)
    gid = np.cumsum(new) - 1
    slot = rank % _GROUP
    gstart = np.append(np.flatnonzero(new), n)
    ids, _, _ = window(np.stack(np.divmod(sc[new], c), axis=1), r, c, reach)
    safe = np.maximum(ids, 0)
    bias = np.where(ids >= 0, half_w2[safe], np.inf).astype(np.float32)
    n_groups, k = ids.shape
    step = max(1, _CHUNK_FLOATS // (k * d))
    for g0 in range(0, n_groups, step):
        if stop is not None and stop.is_set():
            raise Cancelled
        g1 = min(n_groups, g0 + step)
        s0, s1 = int(gstart[g0]), int(gstart[g1])
        local = gid[s0:s1] - g0
        xg = np.zeros((g1 - g0, _GROUP, d), np.float32)
        xg[local, slot[s0:s1]] = X[order[s0:s1]]
        scores = np.matmul(xg, flat[safe[g0:g1]].transpose(0, 2, 1))
        scores -= bias[g0:g1, None, :]
        yield order[s0:s1], ids[gid[s0:s1]], scores[local, slot[s0:s1]]


def window_best(
    X: np.ndarray,
    W: np.ndarray,
    centre: np.ndarray,
    radius: int,
    stop: threading.Event | None = None,
) -> np.ndarray:
    """Best node of each row of X (N, D) among the nodes within ``radius`` (Chebyshev) of its
    ``centre`` node (N,) on the map W (r, c, D): exactly ``argmin |x − w|²`` over that window
    (ties to the lower node id), computed against those (2·radius + 1)² nodes only."""
    idx = np.empty(X.shape[0], np.int64)
    for rows, ids, scores in _window_scores(X, W, centre, radius, stop):
        idx[rows] = np.take_along_axis(ids, scores.argmax(axis=1)[:, None], axis=1)[:, 0]
    return idx


def local_best(
    X: np.ndarray,
    x2: np.ndarray,
    W: np.ndarray,
    centre: np.ndarray,
    radius: int,
    stop: threading.Event | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`window_best` plus the 3×3 nodes around each row's best one and their costs.

    W: (r, c, D); centre: (N,) node id near which each row's best node lies. The scores reach
    one node further than the search, so the 3×3 costs come from the same products.
    Returns (best node ids (N,), 3×3 window ids (N, 9) with -1 off the grid, their squared
    distances (N, 9) with inf off the grid).
    """
    side = 2 * radius + 3
    off_r, off_c = np.divmod(np.arange(side * side), side)
    inner = (np.abs(off_r - radius - 1) <= radius) & (np.abs(off_c - radius - 1) <= radius)
    ring = ((np.arange(3)[:, None] - 1) * side + np.arange(3)[None, :] - 1).ravel()
    n = X.shape[0]
    idx = np.empty(n, np.int64)
    win = np.empty((n, 9), np.int64)
    cost = np.empty((n, 9), np.float64)
    for rows, ids, scores in _window_scores(X, W, centre, radius + 1, stop):
        j = np.where(inner, scores, -np.inf).argmax(axis=1)
        around = j[:, None] + ring[None, :]
        near = np.take_along_axis(ids, around, axis=1)
        sc = np.take_along_axis(scores, around, axis=1).astype(np.float64)
        idx[rows] = near[:, 4]
        win[rows] = near
        cost[rows] = np.where(near >= 0, np.maximum(x2[rows, None] - 2.0 * sc, 0.0), np.inf)
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
) -> DenseMap:
    """From a coarse map and each row's best coarse node with its 3×3 costs (``local_best``)
    to unique display cells: positions, then the k-d fill. ``bmus`` are the best coarse nodes
    scaled onto the display grid (a display-wide search would cost as much as the whole
    update); the display weights wait until asked for (:meth:`DenseMap.weights`)."""
    rows, cols = display
    cr, cc, _ = Wc.shape
    centre, win, cost = best3
    scale = np.array([rows / cr, cols / cc])
    pos = (_positions(win, cost, cc) + 0.5) * scale - 0.5
    cells = partition_cells(pos, rows, cols)
    node = (np.stack(np.divmod(centre, cc), axis=1) + 0.5) * scale - 0.5
    bmus = np.clip(np.rint(node), 0, [rows - 1, cols - 1]).astype(np.int32)
    return DenseMap(X, Wc, cells, bmus, display)


def _cancellable(work: Callable[[], DenseMap]) -> DenseMap:
    """Run ``work``; its internal ``Cancelled`` becomes ``CancelledError`` (as ``SOM.fit``)."""
    try:
        return work()
    except Cancelled:
        msg = "layout was cancelled"
        raise CancelledError(msg) from None


def _finish_trivial(X: np.ndarray, rows: int, cols: int, seed: int) -> SOM:
    """Tiny inputs or grids: the plain SOM (nothing to coarsen)."""
    return SOM(rows, cols, seed=seed).fit(X)
