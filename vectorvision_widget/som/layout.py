"""Grid layouts: default grid sizes, unique cell assignment, and gridding of custom 2-D coordinates.

The widget draws one thumbnail per grid cell, so every layout (the SOM's or a user's UMAP/t-SNE
coordinates) ends in :func:`assign_unique`, which gives each image its own cell while keeping it
as close as possible to where it wants to be. It is a vectorised greedy matching: in each round
every unplaced item proposes its cheapest free candidate cell and the cheapest proposer of each
cell wins. Items whose candidates are all taken get fresh candidates among the free cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

#: Default share of grid cells that hold an image (N / (rows·cols)) for a plain SOM
#: (``SOM.for_samples``). The old 1.5·√N cells per side (fill 0.44) left 56 % of the map empty;
#: 0.7 leaves 31 % for gaps between clusters at +12 % own-cell QE (0.8: +16 %, 0.9: +22 %;
#: TE 0.010 -> 0.027; 5k×384 mixture, ``python benchmarks/bench_som.py --fill 5000``).
DEFAULT_FILL = 0.7
#: Fill of the widget's map and ``default_layout`` (``som.dense``): 5 % empty cells. Filling a
#: grid in the order of a coarser SOM keeps neighbourhoods better than the plain SOM at 0.7,
#: whose 31 % empty cells are scattered through the map like confetti
#: (``benchmarks/bench_layout.py``).
DENSE_FILL = 0.95

Refill = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""refill(items, taken, attempt) -> (cand, cost) wider candidate lists for unplaced items."""

_BLOCK_ELEMENTS = 1 << 22  # candidate elements per block when refilling (bounded memory)


def _fill_value(fill: object) -> float:
    """``fill`` checked: a number in (0, 1]; callers may be untyped, so a string is refused."""
    if not (isinstance(fill, (int, float)) and 0.0 < fill <= 1.0):
        msg = f"default_grid_shape: fill must be a number in (0, 1], got {fill!r}"
        raise ValueError(msg)
    return float(fill)


def map_grid_shape(n: int) -> tuple[int, int]:
    """The widget's grid for ``n`` images: ``default_grid_shape(n, DENSE_FILL)``."""
    return default_grid_shape(n, DENSE_FILL)


def default_grid_shape(n: int, fill: float | None = None) -> tuple[int, int]:
    """(rows, cols) for ``n`` items: the smallest square grid with n / cells <= ``fill``.

    ``fill`` in (0, 1] is the share of cells holding an image (default :data:`DEFAULT_FILL`);
    lower leaves more room between clusters, higher gives a denser map. Never smaller than 1×1.
    """
    if n < 0:
        msg = f"default_grid_shape: n must be >= 0, got {n}"
        raise ValueError(msg)
    fill = _fill_value(DEFAULT_FILL if fill is None else fill)
    side = max(1, math.ceil(math.sqrt(n / fill)))
    while side * side < n:  # float rounding guard
        side += 1
    return side, side


def assign_unique(
    candidates: np.ndarray,
    costs: np.ndarray,
    n_cells: int,
    refill: Refill | None = None,
    *,
    max_refills: int = 64,
    taken: np.ndarray | None = None,
) -> np.ndarray:
    """Give each item a distinct cell id, greedily preferring low cost.

    candidates: (N, c) int cell ids in [0, n_cells) or -1 for "no candidate"; costs: (N, c).
    refill(items, taken, attempt) -> (cand, cost) supplies wider candidate lists for items whose
    candidates are all taken (attempt = 1, 2, ...; grow the search with it). Items still unplaced
    after that (or without refill) take the lowest free cell ids, so the result is always valid.
    ``taken`` (n_cells,) bool marks cells already in use (placing rows into an existing map).
    Returns (N,) int64 cell ids, all distinct. Deterministic: ties go to the lower item index.
    """
    candidates = np.asarray(candidates)
    costs = np.asarray(costs, dtype=np.float64)
    if candidates.ndim != 2 or candidates.shape != costs.shape:
        msg = (
            f"assign_unique: candidates and costs must be 2-D arrays of the same shape, got "
            f"{candidates.shape} and {costs.shape}"
        )
        raise ValueError(msg)
    n = candidates.shape[0]
    used = np.zeros(n_cells, dtype=bool) if taken is None else np.array(taken, dtype=bool)
    if used.shape != (n_cells,):
        msg = f"assign_unique: taken must have shape ({n_cells},), got {used.shape}"
        raise ValueError(msg)
    if n > n_cells - int(used.sum()):
        msg = (
            f"assign_unique: {n} items do not fit in {n_cells - int(used.sum())} free cells; "
            f"use a grid with rows*cols >= {n} (see layout.default_grid_shape)"
        )
        raise ValueError(msg)
    taken = used
    cell_of = np.full(n, -1, dtype=np.int64)
    items = np.arange(n)
    cand, cost = _trim(candidates.astype(np.int64), costs, taken)
    attempt = 0
    while items.size:
        items = _propose_rounds(items, cand, cost, taken, cell_of)
        attempt += 1
        if not items.size or refill is None or attempt > max_refills:
            break
        cand, cost = refill(items, taken, attempt)
        cand, cost = np.asarray(cand, dtype=np.int64), np.asarray(cost, dtype=np.float64)
    if items.size:  # last resort: any free cell (never reached with a refill that can grow)
        free = np.flatnonzero(~taken)[: items.size]
        cell_of[items] = free
    return cell_of


def _trim(
    cand: np.ndarray, cost: np.ndarray, taken: np.ndarray, width: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Drop taken/invalid candidates (cost -> inf) and keep at most ``width`` cheapest per item."""
    cost = np.where((cand < 0) | taken[np.maximum(cand, 0)], np.inf, cost)
    if cand.shape[1] > width:
        part = np.argpartition(cost, width - 1, axis=1)[:, :width]
        cand = np.take_along_axis(cand, part, axis=1)
        cost = np.take_along_axis(cost, part, axis=1)
    return cand, cost


def _propose_rounds(
    items: np.ndarray,
    cand: np.ndarray,
    cost: np.ndarray,
    taken: np.ndarray,
    cell_of: np.ndarray,
) -> np.ndarray:
    """Run proposal rounds until every item is placed or has only taken candidates left.

    Returns the items left unplaced.
    """
    while items.size:
        masked = np.where(taken[np.maximum(cand, 0)] | (cand < 0), np.inf, cost)
        pick = masked.argmin(axis=1)
        rows = np.arange(items.size)
        best = masked[rows, pick]
        live = np.isfinite(best)
        if not live.any():
            break
        cells = cand[rows, pick][live]
        who = rows[live]
        # Lowest cost per cell wins; ties go to the lower item index (lexsort is stable).
        order = np.lexsort((items[who], best[live], cells))
        first = np.ones(order.size, dtype=bool)
        first[1:] = cells[order][1:] != cells[order][:-1]
        winners = who[order[first]]
        won_cells = cells[order[first]]
        cell_of[items[winners]] = won_cells
        taken[won_cells] = True
        keep = np.ones(items.size, dtype=bool)
        keep[winners] = False
        items, cand, cost = items[keep], cand[keep], cost[keep]
    return items


def window(
    centre: np.ndarray, rows: int, cols: int, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells within ``radius`` (Chebyshev) of integer (row, col) centres: (ids, dr, dc).

    ids is (P, (2r+1)²) with -1 outside the grid; dr/dc are the row/col of each candidate.
    """
    offs = np.arange(-radius, radius + 1)
    dr, dc = (a.ravel() for a in np.meshgrid(offs, offs, indexing="ij"))
    cr = centre[:, :1] + dr[None, :]
    cc = centre[:, 1:] + dc[None, :]
    inside = (cr >= 0) & (cr < rows) & (cc >= 0) & (cc < cols)
    return np.where(inside, cr * cols + cc, -1), cr, cc


def grid_refill(
    centres: np.ndarray,
    cost_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    rows: int,
    cols: int,
    *,
    width: int = 16,
) -> Refill:
    """A refill for :func:`assign_unique` that searches grid windows around each item's centre.

    centres: (N, 2) int (row, col) where each item wants to be; cost_fn(items, cells) scores
    items (P,) against their candidate cells (P, w) (-1 entries may get any value). On refill
    ``attempt`` each item gets its ``width·2^attempt`` cheapest free cells from the smallest
    window holding that many free cells (found with a summed-area table of the free mask), so a
    crowd wanting the same spot is placed in O(log crowd) refills with bounded memory.
    """
    cap = max(rows, cols)

    def refill(items: np.ndarray, taken: np.ndarray, attempt: int) -> tuple[np.ndarray, np.ndarray]:
        want = min(width << attempt, 256)
        free = (~taken).reshape(rows, cols).astype(np.int64)
        sat = np.zeros((rows + 1, cols + 1), dtype=np.int64)
        sat[1:, 1:] = free.cumsum(0).cumsum(1)
        need = min(want, int(sat[-1, -1]))
        c = centres[items]
        radius = np.full(items.size, 1, dtype=np.int64)
        while True:
            r0 = np.clip(c[:, 0] - radius, 0, rows)
            r1 = np.clip(c[:, 0] + radius + 1, 0, rows)
            c0 = np.clip(c[:, 1] - radius, 0, cols)
            c1 = np.clip(c[:, 1] + radius + 1, 0, cols)
            count = sat[r1, c1] - sat[r0, c1] - sat[r1, c0] + sat[r0, c0]
            short = (count < need) & (radius < cap)
            if not short.any():
                break
            radius[short] = np.minimum(radius[short] * 3 // 2 + 1, cap)
        out_c = np.full((items.size, want), -1, dtype=np.int64)
        out_v = np.full((items.size, want), np.inf)
        for r in np.unique(radius):
            group = np.flatnonzero(radius == r)
            step = max(1, _BLOCK_ELEMENTS // (2 * int(r) + 1) ** 2)
            for i in range(0, group.size, step):
                g = group[i : i + step]
                ids, _, _ = window(c[g], rows, cols, int(r))
                cand, cost = _trim(ids, cost_fn(items[g], ids), taken, want)
                out_c[g, : cand.shape[1]] = cand
                out_v[g, : cand.shape[1]] = cost
        return out_c, out_v

    return refill


def grid_cells(
    coords: np.ndarray,
    rows: int | None = None,
    cols: int | None = None,
    *,
    spread: Literal["linear", "rank"] = "linear",
) -> np.ndarray:
    """Turn (N, 2) float coordinates (UMAP, t-SNE, your own) into unique (row, col) grid cells.

    Column 0 is x (→ grid column), column 1 is y (→ grid row, larger y nearer the top, as in a
    scatter plot). Each axis is min-max scaled onto the grid (``spread="rank"`` uses ranks
    instead, which fills the grid evenly when the points are clumped); then a capacity-aware
    k-d split (:func:`partition_cells`) gives every point its own cell near its position, so
    neighbours stay neighbours, empty regions stay empty and only crowded regions are spread
    out. Default grid: default_grid_shape(N).
    """
    pts = np.asarray(coords, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        msg = f"grid_cells: coords must have shape (N, 2), got {pts.shape}"
        raise ValueError(msg)
    if not np.isfinite(pts).all():
        bad = int((~np.isfinite(pts).all(axis=1)).sum())
        msg = f"grid_cells: {bad} row(s) of coords are NaN or infinite; drop or impute them first"
        raise ValueError(msg)
    n = pts.shape[0]
    if (rows is None) != (cols is None):
        msg = "grid_cells: pass both rows and cols, or neither (for default_grid_shape(N))"
        raise ValueError(msg)
    if rows is None or cols is None:
        rows, cols = default_grid_shape(n)
    if rows < 1 or cols < 1 or rows * cols < n:
        msg = (
            f"grid_cells: a {rows}×{cols} grid cannot hold {n} points uniquely; use "
            f"rows*cols >= {n}, e.g. default_grid_shape({n}) = {default_grid_shape(n)}"
        )
        raise ValueError(msg)
    if spread not in ("linear", "rank"):
        msg = f"grid_cells: spread must be 'linear' or 'rank', got {spread!r}"
        raise ValueError(msg)
    if n == 0:
        return np.empty((0, 2), dtype=np.int32)
    x = _unit_axis(pts[:, 0], spread)
    y = _unit_axis(pts[:, 1], spread)
    pos = np.stack([(1.0 - y) * (rows - 1), x * (cols - 1)], axis=1)  # continuous (row, col)

    return partition_cells(pos, rows, cols)


def partition_cells(pos: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Unique cells for continuous (row, col) positions by recursive capacity-aware halving.

    Each rectangle is cut at its geometric middle along its longer side; points go to the side
    they lie on unless that side has fewer cells than points, in which case the cut moves just
    enough (points sorted along the axis). A rectangle with one point takes the cell nearest to
    it. Why not nearest-free-cell greedy: with a crowded cluster (UMAP output, 2+ points per
    cell) greedy needs many passes over a growing crowd; this is O(N log N), fully vectorised
    (one pass per tree level), and keeps geometry wherever there is room.
    """
    n = pos.shape[0]
    out = np.empty((n, 2), dtype=np.int64)
    perm = np.arange(n)
    # one entry per node: rectangle [r0, r1) × [c0, c1) and its segment [s0, s1) of perm
    r0, r1, c0, c1 = np.array([0]), np.array([rows]), np.array([0]), np.array([cols])
    s0, s1 = np.array([0]), np.array([n])
    while r0.size:
        npts = s1 - s0
        done = npts == 1
        if done.any():  # single point: nearest cell inside its rectangle
            p = perm[s0[done]]
            out[p, 0] = np.clip(np.rint(pos[p, 0]), r0[done], r1[done] - 1)
            out[p, 1] = np.clip(np.rint(pos[p, 1]), c0[done], c1[done] - 1)
        act = npts >= 2
        r0, r1, c0, c1, s0, s1, npts = (a[act] for a in (r0, r1, c0, c1, s0, s1, npts))
        if not r0.size:
            break
        split_rows = (r1 - r0) >= (c1 - c0)
        lo = np.where(split_rows, r0, c0)
        hi = np.where(split_rows, r1, c1)
        other = np.where(split_rows, c1 - c0, r1 - r0)
        mid = (lo + hi) // 2
        cap_left, cap_right = (mid - lo) * other, (hi - mid) * other
        # gather every active node's points, sort by (node, coordinate along its split axis)
        node = np.repeat(np.arange(r0.size), npts)
        idx = perm[np.concatenate([np.arange(a, b) for a, b in zip(s0, s1, strict=True)])]
        key = np.where(split_rows[node], pos[idx, 0], pos[idx, 1])
        order = np.lexsort((key, node))
        idx, key = idx[order], key[order]
        perm[np.concatenate([np.arange(a, b) for a, b in zip(s0, s1, strict=True)])] = idx
        geo = np.bincount(node, weights=key < (mid[node] - 0.5), minlength=r0.size)
        n_left = np.clip(geo.astype(np.int64), npts - cap_right, cap_left)
        cut = s0 + n_left
        r0 = np.concatenate([r0, np.where(split_rows, mid, r0)])
        r1 = np.concatenate([np.where(split_rows, mid, r1), r1])
        c0 = np.concatenate([c0, np.where(split_rows, c0, mid)])
        c1 = np.concatenate([np.where(split_rows, c1, mid), c1])
        s0, s1 = np.concatenate([s0, cut]), np.concatenate([cut, s1])
        keep = s1 > s0
        r0, r1, c0, c1, s0, s1 = (a[keep] for a in (r0, r1, c0, c1, s0, s1))
    return out.astype(np.int32)


def _unit_axis(v: np.ndarray, spread: str) -> np.ndarray:
    """Map one coordinate axis onto [0, 1]; a constant axis goes to the middle (0.5)."""
    if spread == "rank":
        order = np.argsort(v, kind="stable")
        ranks = np.empty(v.size, dtype=np.float64)
        ranks[order] = np.arange(v.size)
        # equal values share their mean rank so duplicates land on the same spot
        _, inv = np.unique(v, return_inverse=True)
        sums = np.bincount(inv, weights=ranks)
        counts = np.bincount(inv)
        ranks = (sums / counts)[inv]
        v = ranks
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 0.0:
        return np.full(v.size, 0.5)
    return (v - lo) / (hi - lo)
