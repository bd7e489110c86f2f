"""Unique-cell placement on a trained SOM: every row gets its own grid cell near its best unit.

Two paths, matching :mod:`som`'s two training paths:
- full resolution (:func:`bmu_cells`): each row's candidates are the 5×5 cells around its BMU,
  scored from the BMU search's own score block, then matched by :func:`layout.assign_unique`;
- bounded working resolution (:func:`finish_bounded`): the coarse map is upsampled to the
  display grid, each row searches only the display cells interpolated around its working BMU
  (one small matrix product per working node) and a few refinement epochs run on the rows'
  unique cells. Above :data:`GREEDY_MAX_ROWS` rows, BMUs are spread by
  :func:`layout.partition_cells` (O(N log N)) instead of the greedy matching.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from vectorvision_widget.som.layout import assign_unique, grid_refill, partition_cells
from vectorvision_widget.som.training import Cancelled, best, resample

#: Candidate display cells kept per row on the bounded path.
CANDIDATES = 16
#: Above this many rows the bounded path spreads BMUs with ``layout.partition_cells`` (O(N log N))
#: instead of the greedy candidate matching, whose crowd refills grow too slow at ~100k (4 min).
GREEDY_MAX_ROWS = 20000
#: Floats per chunk of sorted rows summed per cell in ``refine_update`` (fits a core's cache).
_SUM_FLOATS = 1 << 20


def _to_cells(ids: np.ndarray, cols: int) -> np.ndarray:
    return np.stack(np.divmod(ids, cols), axis=1).astype(np.int32)


def bmu_cells(
    X: np.ndarray,
    x2: np.ndarray,
    W: np.ndarray,
    unique: bool,
    stop: threading.Event | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(bmus, unique cells) for weights W (rows, cols, D); cells are the BMUs when the grid is
    smaller than N or ``unique`` is off."""
    R, C, _ = W.shape
    flat = W.reshape(R * C, -1)
    n = X.shape[0]
    # candidates: the 5×5 window around the BMU, scored from the same score block
    bmu, _d2, win, wcost = best(X, x2, flat, stop, window_of=(R, C, 2))
    bmus = _to_cells(bmu, C)
    if not unique or n > R * C:
        return bmus, bmus
    half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)

    def cost_fn(items: np.ndarray, cells: np.ndarray) -> np.ndarray:
        scores = X[items] @ flat.T - half_w2
        return x2[items, None] - 2.0 * np.take_along_axis(scores, np.maximum(cells, 0), 1)

    ids = assign_unique(win, wcost, R * C, grid_refill(bmus.astype(np.int64), cost_fn, R, C))
    return bmus, _to_cells(ids, C)


def preview_cells(
    X: np.ndarray,
    x2: np.ndarray,
    W: np.ndarray,
    display: tuple[int, int],
    unique: bool,
    stop: threading.Event | None,
) -> np.ndarray:
    """Cheap unique cells for a progress frame: working-grid BMUs scaled onto the display
    grid and spread by :func:`layout.partition_cells` (no display-resolution search)."""
    rows, cols = display
    r, c, _ = W.shape
    idx, _ = best(X, x2, W.reshape(r * c, -1), stop)
    br, bc = np.divmod(idx, c)
    pos = np.stack([br * ((rows - 1) / max(r - 1, 1)), bc * ((cols - 1) / max(c - 1, 1))], 1)
    if not unique or X.shape[0] > rows * cols:
        nearest: np.ndarray = np.rint(pos)
        return nearest.astype(np.int32)
    return partition_cells(pos, rows, cols)


def finish_bounded(
    X: np.ndarray,
    x2: np.ndarray,
    W: np.ndarray,
    work: tuple[int, int],
    display: tuple[int, int],
    *,
    sigma: float,
    refine_epochs: int,
    unique: bool,
    stop: threading.Event | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upsample the working map to the display grid, then refine it there.

    Each refinement epoch assigns unique cells from each row's candidate cells (the display
    cells interpolated from its working BMU's 3×3 neighbourhood) and runs a batch update with
    ``sigma`` on those cells, so the weights follow where the rows actually sit.
    Returns (weights, bmus, cells).
    """
    rows, cols = display
    if W.shape[:2] != work:
        W = resample(W, *work)
    work_bmu, _ = best(X, x2, W.reshape(work[0] * work[1], -1), stop)
    W = resample(W, rows, cols)
    cand, cost = region_candidates(X, x2, W, work_bmu, work, stop)
    for _ in range(max(0, refine_epochs)):
        ids = assign_candidates(cand, cost, display, unique)
        refine_update(X, ids, W, sigma)
        cand, cost = region_candidates(X, x2, W, work_bmu, work, stop)
    ids = assign_candidates(cand, cost, display, unique)
    return W, _to_cells(cand[:, 0], cols), _to_cells(ids, cols)


def refine_update(X: np.ndarray, ids: np.ndarray, W: np.ndarray, sigma: float) -> None:
    """In-place batch update of a display-resolution map W (R, C, D) from rows on cells ``ids``.

    Why not :func:`training.batch_update`: at 1M rows the display grid has ~1.4M cells, where
    dense R×R and C×C Gaussian products cost ~1 TFLOP and four grid-sized copies (~9 GB). The
    neighbourhood here is narrow (sigma ~1), so it is applied as a kernel truncated at 4·sigma,
    one band of output rows at a time: extra memory is one grid-sized sum plus a band.
    Cells with no row within the kernel keep their weights.
    """
    R, C, D = W.shape
    counts = np.bincount(ids, minlength=R * C).astype(np.float32).reshape(R, C)
    sums = np.zeros((R * C, D), dtype=np.float32)
    if counts.max() <= 1:  # unique cells (the usual case): a scatter, no sorted copy of X
        sums[ids] = X
    else:
        _add_sums(sums, X, ids)
    sums = sums.reshape(R, C, D)
    rad = max(1, math.ceil(4.0 * sigma))
    taps = np.exp(-(np.arange(-rad, rad + 1) ** 2) / (2.0 * sigma * sigma)).astype(np.float32)

    def smooth(a: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi of a (axis 0) or all of a block (axis 1) convolved with taps."""
        n = a.shape[axis]
        if axis == 0:
            out = np.zeros((hi - lo, *a.shape[1:]), dtype=np.float32)
            for k, w in zip(range(-rad, rad + 1), taps.tolist(), strict=True):
                s0, s1 = max(lo + k, 0), min(hi + k, n)
                if s1 > s0:
                    out[s0 - k - lo : s1 - k - lo] += w * a[s0:s1]
            return out
        out = np.zeros_like(a)
        for k, w in zip(range(-rad, rad + 1), taps.tolist(), strict=True):
            s0, s1 = max(k, 0), min(n + k, n)
            if s1 > s0:
                out[:, s0 - k : s1 - k] += w * a[:, s0:s1]
        return out

    den = smooth(smooth(counts, 0, 0, R), 1, 0, C)
    ok = den > 1e-6 * max(float(den.max()), 1e-30)
    band = max(1, (1 << 24) // max(1, C * D))  # ~64 MiB of float32 per band
    for lo in range(0, R, band):
        hi = min(R, lo + band)
        num = smooth(smooth(sums, 0, lo, hi), 1, 0, C)
        blk = ok[lo:hi]
        W[lo:hi][blk] = num[blk] / den[lo:hi][blk][:, None]


def _add_sums(sums: np.ndarray, X: np.ndarray, ids: np.ndarray) -> None:
    """sums[i] += the rows of X on cell i, in cache-sized chunks of rows sorted by cell (a
    sorted copy of all of X, then one reduceat over it, is ~2× slower: memory-bound)."""
    order = np.argsort(ids, kind="stable")
    cell = ids[order]
    step = max(1, _SUM_FLOATS // max(1, X.shape[1]))
    for s0 in range(0, order.size, step):
        part = cell[s0 : s0 + step]
        first = np.flatnonzero(np.diff(part, prepend=part[0] - 1))
        sums[part[first]] += np.add.reduceat(X[order[s0 : s0 + step]], first, axis=0)


def assign_candidates(
    cand: np.ndarray, cost: np.ndarray, display: tuple[int, int], unique: bool
) -> np.ndarray:
    """Unique cell ids from (N, c) sorted candidates (BMU ids when the grid is too small)."""
    R, C = display
    n = cand.shape[0]
    if not unique or n > R * C:
        return cand[:, 0]
    centres = np.stack(np.divmod(cand[:, 0], C), axis=1)
    if n > GREEDY_MAX_ROWS:
        cells = partition_cells(centres.astype(np.float64), R, C).astype(np.int64)
        return cells[:, 0] * C + cells[:, 1]

    # Rows whose candidates are all taken sit in a crowd; their map is smooth there, so the
    # nearest free cells on the grid are a good, D-free proxy for the nearest in feature space.
    def cost_fn(items: np.ndarray, cells: np.ndarray) -> np.ndarray:
        r, c = np.divmod(np.maximum(cells, 0), C)
        dist2: np.ndarray = (r - centres[items, :1]) ** 2 + (c - centres[items, 1:]) ** 2.0
        return dist2

    return assign_unique(cand, cost, R * C, grid_refill(centres, cost_fn, R, C))


def region_candidates(
    X: np.ndarray,
    x2: np.ndarray,
    W: np.ndarray,
    work_bmu: np.ndarray,
    work: tuple[int, int],
    stop: threading.Event | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, CANDIDATES) cheapest display cells per row and their squared distances, sorted.

    A row's search region is the block of display cells interpolated from its working BMU's
    3×3 neighbourhood; rows sharing a working BMU share it, so each region is one small matrix
    product instead of an N × rows·cols one. Unused slots hold -1 / inf.
    """
    R, C, D = W.shape
    wr, wc = work
    flat = W.reshape(R * C, D)
    half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
    fr = (R - 1) / (wr - 1) if wr > 1 else float(R)
    fc = (C - 1) / (wc - 1) if wc > 1 else float(C)
    n = X.shape[0]
    cand = np.full((n, CANDIDATES), -1, dtype=np.int64)
    cost = np.full((n, CANDIDATES), np.inf, dtype=np.float64)
    order = np.argsort(work_bmu, kind="stable")
    nodes, starts = np.unique(work_bmu[order], return_index=True)
    ends = np.append(starts[1:], n)
    for node, s0, s1 in zip(nodes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if stop is not None and stop.is_set():
            raise Cancelled
        i, j = divmod(node, wc)
        r0, r1 = max(0, math.ceil((i - 1) * fr)), min(R - 1, math.floor((i + 1) * fr))
        c0, c1 = max(0, math.ceil((j - 1) * fc)), min(C - 1, math.floor((j + 1) * fc))
        cells = (np.arange(r0, r1 + 1)[:, None] * C + np.arange(c0, c1 + 1)[None, :]).ravel()
        items = order[s0:s1]
        g = X[items] @ flat[cells].T
        g -= half_w2[cells]
        k = min(CANDIDATES, cells.size)
        top = np.argpartition(-g, k - 1, axis=1)[:, :k] if k < cells.size else None
        if top is None:
            top = np.broadcast_to(np.arange(k), (items.size, k))
        sc = np.take_along_axis(g, top, axis=1)
        srt = np.argsort(-sc, axis=1, kind="stable")
        cand[items, :k] = cells[np.take_along_axis(top, srt, axis=1)]
        cost[items, :k] = x2[items, None] - 2.0 * np.take_along_axis(sc, srt, 1).astype(np.float64)
    return cand, cost
