"""A neighbour table brought up to date after a few rows changed, without a full recompute.

After an incremental rescan most rows keep their vectors. Their old top-k lists stay the top-k
among the unchanged rows, so only three kinds of row need work:

- *fresh* rows (new, or whose vector changed) get a new exact top-k against every row;
- rows whose old list held a removed or changed row are recomputed the same way (a neighbour
  left: the (k+1)-th best was never kept);
- every other row merges the fresh rows into its list by score (one (rows × fresh) product).

Exact wherever the old table was exact: the merged rows get the top-k of (unchanged rows ∪ fresh
rows), which is every row. Ties are canonical as in ``topk`` (score desc, then lower row):
removals keep the order of the remaining rows, so old lists stay in canonical order.
"""

from __future__ import annotations

import numpy as np

from vectorvision_widget.neighbours.topk import _select_rows

__all__ = ["update_table"]

_BLOCK_BYTES = 64 << 20  # budget for one block of scores


def update_table(
    X: np.ndarray,
    old_idx: np.ndarray,
    old_scores: np.ndarray,
    old_to_new: np.ndarray,
    fresh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(idx int32 (N, k), scores float32 (N, k), rows recomputed) for the rows of ``X``.

    X: (N, D) vectors whose dot products are the scores (unit rows for cosine; the hybrid space
    as ``[sqrt(w)·visual, sqrt(1-w)·semantic]``). old_idx / old_scores: the (N_old, k) table
    before the change (-1 for no neighbour). old_to_new: (N_old,) each old row's new row, -1
    when removed. fresh: new rows whose vectors are new or changed (an old row mapped to a
    fresh row counts as changed). k stays the old table's width: the caller recomputes
    everything when ``min(k, N - 1)`` changes.
    """
    A = np.asarray(X, np.float32)
    n = A.shape[0]
    k = old_idx.shape[1]
    if not 1 <= k <= n - 1:
        msg = f"update_table: the table's k ({k}) must be in [1, N-1] = [1, {n - 1}]"
        raise ValueError(msg)
    old_to_new = np.asarray(old_to_new, np.int64)
    fresh = np.unique(np.asarray(fresh, np.int64))
    is_fresh = np.zeros(n, bool)
    is_fresh[fresh] = True
    # an old list entry is still good when its row survives with the same vector
    mapped = np.where(old_idx >= 0, old_to_new[np.maximum(old_idx, 0)], -1)
    good = (mapped >= 0) & ~is_fresh[np.maximum(mapped, 0)]
    kept_old = np.flatnonzero((old_to_new >= 0) & ~is_fresh[np.maximum(old_to_new, 0)])
    kept_new = old_to_new[kept_old]
    intact = good[kept_old].all(axis=1)
    idx = np.full((n, k), -1, np.int32)
    scores = np.full((n, k), -np.inf, np.float32)
    redo = np.ones(n, bool)
    redo[kept_new[intact]] = False
    merged = kept_old[intact]
    _merge(A, idx, scores, kept_new[intact], mapped[merged], old_scores[merged], fresh)
    todo = np.flatnonzero(redo)
    _recompute(A, idx, scores, todo)
    return idx, scores, int(todo.size)


def _merge(
    A: np.ndarray,
    idx: np.ndarray,
    scores: np.ndarray,
    rows: np.ndarray,
    lists: np.ndarray,
    list_scores: np.ndarray,
    fresh: np.ndarray,
) -> None:
    """Rows whose old list is intact: that list plus the fresh rows, best k (canonical)."""
    k = idx.shape[1]
    if not fresh.size:
        idx[rows] = lists
        scores[rows] = list_scores
        return
    step = int(max(1, _BLOCK_BYTES // (4 * (k + fresh.size))))
    F = A[fresh]
    for s in range(0, rows.size, step):
        r = rows[s : s + step]
        cand = np.concatenate(
            [lists[s : s + step], np.broadcast_to(fresh, (r.size, fresh.size))], 1
        )
        sc = np.concatenate([list_scores[s : s + step], A[r] @ F.T], axis=1).astype(np.float32)
        sc[cand == r[:, None]] = -np.inf  # a row is never its own neighbour
        sc[cand < 0] = -np.inf
        pos, vals = _ranked(sc, cand, k)
        idx[r] = np.take_along_axis(cand, pos, 1)
        scores[r] = vals


def _ranked(sc: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and scores of the best k per row by (score desc, key asc)."""
    order = np.lexsort((keys, -sc), axis=1)[:, :k]
    return order, np.take_along_axis(sc, order, 1)


def _recompute(A: np.ndarray, idx: np.ndarray, scores: np.ndarray, rows: np.ndarray) -> None:
    """Exact top-k of ``rows`` against every row (self excluded), in memory-bounded blocks."""
    n, k = A.shape[0], idx.shape[1]
    step = int(max(1, _BLOCK_BYTES // (4 * max(1, n))))
    for s in range(0, rows.size, step):
        r = rows[s : s + step]
        sc = A[r] @ A.T
        sc[np.arange(r.size), r] = -np.inf
        top, vals = _select_rows(sc, k)
        idx[r] = top
        scores[r] = vals
