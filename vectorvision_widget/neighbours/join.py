"""The all-rows neighbour table as a blocked self-join with a recall target.

Method: spherical k-means cells on a sample of rows (a few Lloyd iterations), every row put in
its nearest cell; then each cell's rows are multiplied (sgemm, in bounded blocks) against the
rows of its P nearest cells (by centroid cosine, the cell itself first) and the exact top-k
within those candidates is kept — neighbouring cells are joined together, as one group against
the union of their probes, so the sgemm calls are few and large. Single-threaded Python over a
multithreaded BLAS.

Recall is a target, not a hope: before the join, ``sample`` random rows get their exact top-k by
brute force (one blocked pass over X); for each of them the rank of every true neighbour's cell
in its own cell's probe order tells, for every P at once, how many true neighbours a P-probe
join finds (within the probed rows the top-k is exact). P is widened until the sample's recall,
less its standard error, reaches the target; when that costs about as much as the exact join
(or N is small), the exact join runs instead. The achieved recall is measured on the sample
rows of the finished table and reported (``NeighbourTable.recall`` and a log line); should it
fall short of the target, the probes are doubled and the join runs again.
Deterministic for a seed (same BLAS, same thread count).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from vectorvision_widget.neighbours.topk import _check, _select, _select_rows, exact_neighbour_table
from vectorvision_widget.vectors import l2_normalise

__all__ = [
    "DEFAULT_RECALL",
    "EXACT_MAX_N",
    "NeighbourTable",
    "join_table",
    "neighbour_table",
]

log = logging.getLogger(__name__)

#: The default recall@k target of the approximate join (measured on a sample of rows).
DEFAULT_RECALL = 0.97
#: Up to this many rows the exact join is as fast as building cells and probing (measured with
#: benchmarks/bench_join.py): the table is exact there.
EXACT_MAX_N = 20_000
#: Rows whose exact top-k is computed by brute force to measure recall.
SAMPLE_ROWS = 1000
#: Cells per √N rows (k-means cells): 300k rows → 1,643 cells of ~180 rows.
CELLS_PER_SQRT_N = 3.0
#: Lloyd iterations of the k-means on the sample, and sample rows per cell.
KMEANS_ITERS = 5
KMEANS_SAMPLE_PER_CELL = 32
#: A probed join whose dot products exceed this fraction of the symmetric exact join's
#: (N²/2) runs as the exact join instead: per-cell products are smaller and slower than its blocks.
EXACT_COST_FRACTION = 0.5
#: Rows joined together against the union of their cells' probes (one sgemm call per group).
GROUP_ROWS = 1024
#: Bytes of one block of scores (or of gathered candidate rows): bounds the join's memory.
BLOCK_BYTES = 64 << 20


class NeighbourTable(tuple[np.ndarray, np.ndarray]):
    """``(idx, scores)``, unpacks like a pair: (N, k) int32 rows and float32 cosines, self
    excluded, best first (ties: lower row). Also says how it was made: ``recall`` (recall@k
    measured on ``sample`` rows against brute force; 1.0 for an exact table), ``exact``,
    ``probes`` (cells searched per cell; 0 when exact), ``cells``, ``seconds``."""

    recall: float
    exact: bool
    probes: int
    cells: int
    sample: int
    seconds: float
    block_bytes: int

    def __new__(
        cls,
        idx: np.ndarray,
        scores: np.ndarray,
        *,
        recall: float,
        exact: bool,
        probes: int = 0,
        cells: int = 0,
        sample: int = 0,
        seconds: float = 0.0,
        block_bytes: int = 0,
    ) -> NeighbourTable:
        self = super().__new__(cls, (idx, scores))
        self.recall, self.exact, self.probes, self.cells = recall, exact, probes, cells
        self.sample, self.seconds, self.block_bytes = sample, seconds, block_bytes
        return self

    @property
    def idx(self) -> np.ndarray:
        return self[0]

    @property
    def scores(self) -> np.ndarray:
        return self[1]


def neighbour_table(
    X: np.ndarray,
    k: int,
    *,
    exact: bool | None = None,
    recall: float = DEFAULT_RECALL,
    block: int = 4096,
    normalize: bool = True,
    seed: int = 0,
    progress: Callable[[int, int], object] | None = None,
) -> NeighbourTable:
    """Cosine k nearest neighbours of every row, self excluded: (N, k) int32, float32.

    Rows sorted by score (desc), ties by lower index. ``exact=None`` (default): exact up to
    ``EXACT_MAX_N`` rows, above it the blocked self-join with the ``recall`` target (recall@k,
    measured on a sample of rows against brute force; the join widens its probes until the
    target holds, up to the exact join); ``exact=True`` is always exact, ``exact=False`` always
    probes cells. The result unpacks as ``idx, scores`` and carries ``.recall`` (achieved),
    ``.exact``, ``.probes``, ``.cells``. ``block``: rows per strip of the exact join.
    ``progress(done, total)`` is called as the work advances; raise from it to cancel.
    """
    A = l2_normalise(_check(X, "X"), check_finite=False) if normalize else _check(X, "X")
    return join_table(A, k, recall=recall, exact=exact, seed=seed, block=block, progress=progress)


def join_table(
    A: np.ndarray,
    k: int,
    *,
    recall: float = DEFAULT_RECALL,
    exact: bool | None = None,
    seed: int = 0,
    sample: int = SAMPLE_ROWS,
    cells: int | None = None,
    block_bytes: int = BLOCK_BYTES,
    block: int = 4096,
    progress: Callable[[int, int], object] | None = None,
) -> NeighbourTable:
    """Cosine k nearest neighbours of every row of A (unit float32 rows, finite), self excluded.

    ``exact=True`` (or ``recall >= 1``) computes the exact table; ``None`` lets the build choose
    (exact up to ``EXACT_MAX_N`` rows or where probing would cost as much); ``False`` always
    probes (at least two cells). ``cells``: k-means cells (default ``CELLS_PER_SQRT_N`` · √N).
    ``progress(done, total)`` is called as rows finish; raise from it to cancel.
    """
    t0 = time.perf_counter()
    n = A.shape[0]
    if not 1 <= k <= n - 1:
        msg = f"neighbour_table: k must be in [1, N-1] = [1, {n - 1}], got {k}"
        raise ValueError(msg)
    if not 0.0 < recall <= 1.0:
        msg = f"neighbour_table: recall must be in (0, 1], got {recall}"
        raise ValueError(msg)
    if exact is None and (n <= EXACT_MAX_N or recall >= 1.0):
        exact = True
    if exact:
        return _exact(A, k, t0, block, progress)
    rng = np.random.default_rng(seed)
    n_cells = int(cells) if cells else max(2, round(CELLS_PER_SQRT_N * math.sqrt(n)))
    n_cells = min(n_cells, max(2, n // max(1, 2 * k)))
    cent = _kmeans(A, n_cells, rng, block_bytes)
    label = _nearest(A, cent, block_bytes)
    sizes = np.bincount(label, minlength=cent.shape[0])
    cent, label, sizes = _drop_empty(cent, label, sizes)
    centroid_sims = cent @ cent.T
    order = _self_first(np.argsort(centroid_sims, axis=1)[:, ::-1])  # probe order, best first
    m = min(int(sample), n)
    rows = np.sort(rng.choice(n, m, replace=False))
    truth = _truth(A, rows, k, block_bytes)
    probes = _choose_probes(centroid_sims, label, rows, truth, recall, sizes, k)
    while True:
        plan = None if probes is None else _plan(order, sizes, probes, k)
        if plan is None or (exact is None and plan.cost > EXACT_COST_FRACTION * n * n / 2):
            log.info(
                "neighbour table: %d rows, %d cells: recall %.3f needs %s probes, exact instead",
                n,
                cent.shape[0],
                recall,
                "all" if probes is None else probes,
            )
            return _exact(A, k, t0, block, progress)
        idx, scores, peak = _probed_join(A, k, label, sizes, plan, block_bytes, progress)
        got = _recall(idx[rows], truth)
        if got >= recall:
            break
        # the sample's estimate fell short once joined (ties): widen and join again
        probes = None if 2 * plan.probes >= cent.shape[0] else 2 * plan.probes
    secs = time.perf_counter() - t0
    log.info(
        "neighbour table: %d rows, k %d, %d cells × %d probes: recall@%d %.4f on %d rows "
        "(target %.3f), %.1f s",
        n,
        k,
        cent.shape[0],
        plan.probes,
        k,
        got,
        m,
        recall,
        secs,
    )
    return NeighbourTable(
        idx,
        scores,
        recall=got,
        exact=False,
        probes=plan.probes,
        cells=int(cent.shape[0]),
        sample=m,
        seconds=secs,
        block_bytes=peak,
    )


def _exact(
    A: np.ndarray,
    k: int,
    t0: float,
    block: int,
    progress: Callable[[int, int], object] | None,
) -> NeighbourTable:
    idx, scores = exact_neighbour_table(A, k, block=block, normalize=False, progress=progress)
    secs = time.perf_counter() - t0
    log.info("neighbour table: %d rows, k %d, exact join, %.1f s", A.shape[0], k, secs)
    return NeighbourTable(idx, scores, recall=1.0, exact=True, seconds=secs)


def _kmeans(A: np.ndarray, c: int, rng: np.random.Generator, budget: int) -> np.ndarray:
    """(c, D) unit centroids: spherical k-means (Lloyd) on a random sample of rows."""
    n = A.shape[0]
    s = min(n, max(c, KMEANS_SAMPLE_PER_CELL * c))
    S = A[np.sort(rng.choice(n, s, replace=False))]
    cent: np.ndarray = S[rng.choice(s, c, replace=False)].copy()
    for _ in range(KMEANS_ITERS):
        lab = _nearest(S, cent, budget)
        sums = _cell_sums(S, lab, c)
        norms = np.linalg.norm(sums, axis=1)
        live = norms > 0  # an empty cell keeps its centroid
        cent[live] = sums[live] / norms[live, None]
    return cent


def _cell_sums(X: np.ndarray, lab: np.ndarray, c: int) -> np.ndarray:
    """(c, D) sum of the rows of X in each cell (sorted segments, one reduceat)."""
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=c)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sums = np.zeros((c, X.shape[1]), np.float32)
    live = counts > 0
    sums[live] = np.add.reduceat(X[order], starts[live], axis=0)
    return sums


def _nearest(X: np.ndarray, cent: np.ndarray, budget: int) -> np.ndarray:
    """(N,) index of the most similar centroid of each row, in blocks of bounded scores."""
    out = np.empty(X.shape[0], np.int64)
    step = max(1, budget // (4 * cent.shape[0]))
    for s in range(0, X.shape[0], step):
        out[s : s + step] = np.argmax(X[s : s + step] @ cent.T, axis=1)
    return out


def _drop_empty(
    cent: np.ndarray, label: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    live = sizes > 0
    if live.all():
        return cent, label, sizes
    new = np.cumsum(live) - 1
    return cent[live], new[label], sizes[live]


def _self_first(order: np.ndarray) -> np.ndarray:
    """Each cell's probe order with the cell itself first (ties could put another cell there)."""
    c = order.shape[0]
    me = np.arange(c)
    if (order[:, 0] == me).all():
        return order
    rest = order[order != me[:, None]].reshape(c, c - 1)
    return np.concatenate([me[:, None], rest], axis=1)


def _truth(A: np.ndarray, rows: np.ndarray, k: int, budget: int) -> np.ndarray:
    """(m, k) exact top-k of the sample rows (self excluded): one blocked pass over A."""
    Q = A[rows]
    m, n = rows.size, A.shape[0]
    best_v = np.full((m, 0), -np.inf, np.float32)
    best_i = np.empty((m, 0), np.int64)
    step = max(k + 1, budget // (4 * max(1, m)))
    for s in range(0, n, step):
        e = min(n, s + step)
        sc = Q @ A[s:e].T
        own = np.flatnonzero((rows >= s) & (rows < e))
        sc[own, rows[own] - s] = -np.inf
        pos, vals = _select_rows(sc, k)
        v = np.concatenate([best_v, vals], axis=1)
        i = np.concatenate([best_i, pos + s], axis=1)
        sel, best_v = _select(v, k, keys=i)
        best_i = np.take_along_axis(i, sel, axis=1)
    return best_i


def _choose_probes(
    sims: np.ndarray,
    label: np.ndarray,
    rows: np.ndarray,
    truth: np.ndarray,
    target: float,
    sizes: np.ndarray,
    k: int,
) -> int | None:
    """Fewest probed cells whose sample recall, less one standard error, reaches ``target``.

    A true neighbour is found iff its cell is among the first P of the row's cell's probe order
    (the top-k within the probed rows is exact), so every P is evaluated at once from the rank
    of each true neighbour's cell. None if only all cells would do.
    """
    c = sims.shape[0]
    m = rows.size
    own = label[rows]
    s_rows = sims[own]  # (m, c): the probe order is by these, descending, own cell first
    s_rows[np.arange(m), own] = np.inf
    s_true = np.take_along_axis(s_rows, label[truth], axis=1)  # (m, k)
    rank = np.empty(truth.shape, np.int64)
    for t in range(truth.shape[1]):  # cells more similar than the neighbour's own
        rank[:, t] = np.count_nonzero(s_rows > s_true[:, t : t + 1], axis=1)
    found = np.zeros((m, c + 1), np.float64)  # found[i, r]: neighbours at cell rank r
    np.add.at(found, (np.repeat(np.arange(m), truth.shape[1]), rank.ravel()), 1.0)
    per_row = np.cumsum(found, axis=1)[:, :c] / truth.shape[1]  # recall at P = 1 .. c
    mean = per_row.mean(axis=0)
    se = per_row.std(axis=0) / math.sqrt(max(1, m))
    ok = np.flatnonzero(mean - se >= target)
    if ok.size == 0 or ok[0] + 1 >= c:
        return None
    # enough candidates for k neighbours: at least 2 cells and k + 1 rows in the smallest
    p = max(2, int(ok[0]) + 1)
    return p if sizes.sum() > k else None


class _Plan(NamedTuple):
    """Groups of neighbouring cells, the cells each group is joined against, dot products."""

    probes: int
    groups: list[list[int]]
    probed: list[list[int]]
    cost: float


def _plan(order: np.ndarray, sizes: np.ndarray, probes: int, k: int) -> _Plan:
    """Cells in groups of neighbours (each unvisited cell with the unvisited cells among its
    first 2·probes, nearest first, until the group holds ``GROUP_ROWS`` rows), each joined
    against the union of its cells' first ``probes`` cells (more where those hold fewer than
    k + 1 rows). A row may so see more candidates than its own probes (recall only rises),
    and the join makes a few hundred sgemm calls of ~1k rows instead of thousands of tiny
    ones, whose fixed costs (and, on a busy machine, the BLAS threads' waits) dominated."""
    visited = np.zeros(sizes.size, bool)
    groups: list[list[int]] = []
    probed: list[list[int]] = []
    cost = 0.0
    for c in range(sizes.size):
        if visited[c]:
            continue
        group, rows = [c], int(sizes[c])
        visited[c] = True
        for j in order[c, 1 : 2 * probes].tolist():
            if rows >= GROUP_ROWS:
                break
            if not visited[j]:
                visited[j] = True
                group.append(j)
                rows += int(sizes[j])
        cells: set[int] = set()
        for g in group:
            p = probes
            while sizes[order[g, :p]].sum() < k + 1:
                p += 1
            cells.update(order[g, :p].tolist())
        groups.append(group)
        probed.append(sorted(cells))
        cost += float(rows) * float(sizes[probed[-1]].sum())
    return _Plan(probes, groups, probed, cost)


def _probed_join(
    A: np.ndarray,
    k: int,
    label: np.ndarray,
    sizes: np.ndarray,
    plan: _Plan,
    budget: int,
    progress: Callable[[int, int], object] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Each group of cells' rows against the rows of its probed cells: exact top-k among them.
    Returns idx, scores and the largest block in bytes."""
    n = A.shape[0]
    members = np.argsort(label, kind="stable")  # rows by cell, ascending within a cell
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    idx = np.empty((n, k), np.int32)
    scores = np.empty((n, k), np.float32)
    peak = 0
    done, next_report = 0, 0
    for group, probed in zip(plan.groups, plan.probed, strict=True):
        cand = np.sort(np.concatenate([members[bounds[j] : bounds[j + 1]] for j in probed]))
        mine = np.sort(np.concatenate([members[bounds[c] : bounds[c + 1]] for c in group]))
        self_pos = np.searchsorted(cand, mine)
        peak = max(peak, _rows_against(A, mine, cand, self_pos, k, budget, idx, scores))
        done += mine.size
        if progress is not None and (done >= next_report or done == n):
            progress(done, n)
            next_report = done + max(1, n // 100)
    return idx, scores, peak


def _rows_against(
    A: np.ndarray,
    mine: np.ndarray,
    cand: np.ndarray,
    self_pos: np.ndarray,
    k: int,
    budget: int,
    idx: np.ndarray,
    scores: np.ndarray,
) -> int:
    """Exact top-k of rows ``mine`` among rows ``cand`` (sorted; ``mine[i]`` at ``self_pos[i]``
    excluded), written to idx/scores. Candidates are gathered and scored in column blocks of at
    most ``budget`` bytes (gathered rows, and scores); returns the largest block in bytes."""
    d = A.shape[1]
    cols = max(k + 1, budget // (4 * d))  # gathered candidate rows per column block
    rows = max(1, budget // (4 * min(cols, cand.size)))  # query rows per score block
    peak = 0
    for r0 in range(0, mine.size, rows):
        q = mine[r0 : r0 + rows]
        Q = A[q]
        sp = self_pos[r0 : r0 + rows]
        best_v = np.full((q.size, 0), -np.inf, np.float32)
        best_i = np.empty((q.size, 0), np.int64)
        for c0 in range(0, cand.size, cols):
            cc = cand[c0 : c0 + cols]
            S = Q @ A[cc].T
            peak = max(peak, S.nbytes, cc.size * d * 4)
            hit = (sp >= c0) & (sp < c0 + cc.size)
            S[np.flatnonzero(hit), sp[hit] - c0] = -np.inf
            pos, vals = _select_rows(S, k)  # ties: lower position = lower row (cand sorted)
            if c0 == 0 and cc.size == cand.size:
                best_v, best_i = vals, cc[pos]
                break
            v = np.concatenate([best_v, vals], axis=1)
            i = np.concatenate([best_i, cc[pos]], axis=1)
            sel, best_v = _select(v, k, keys=i)
            best_i = np.take_along_axis(i, sel, axis=1)
        idx[q] = best_i
        scores[q] = best_v
    return peak


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / k over rows."""
    k = truth.shape[1]
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum(axis=1)
    return float(hits.mean() / k)
