"""Approximate all-rows neighbour tables for large libraries (faiss HNSW graph).

The exact table (``similarity.neighbour_table``) costs N² dot products: minutes at 100k images,
about 50 minutes at 1M. Above ``EXACT_MAX_ROWS`` rows an HNSW graph finds every row's
neighbours in ~N·log N work instead. faiss-cpu's ``IndexHNSWFlat`` (inner product on unit rows =
cosine) was the fastest of faiss HNSW / IVF-Flat, usearch and hnswlib at recall@10 ≥ 0.95 on
clustered 384-d data (``benchmarks/bench_ann.py``; table in the README). The output has exactly
the exact table's form: (N, k) int32 rows and float32 cosines, self excluded, best first, ties by
lower row; only a few true neighbours may be replaced by slightly worse ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import ModuleType

import numpy as np

from vectorvision_widget.vectors import NonFiniteRowError, l2_normalise, row_norms

#: Up to this many rows ``vv.neighbour_table`` stays exact; above it the approximate table is
#: cheaper. Measured with bench_ann.py (clustered 384-d, k=10, CPU seconds so that a busy machine
#: does not skew it): 20k rows exact 5.0 s; the exact table grows as N², the index about as N.
#: With the parameters below (300k: 322 CPU s, ≈ 1.1 ms per row) the two cross near 90–100k
#: (100k: exact ≈ 5.0 × 25 = 125 s, approximate ≈ 107 s) — an estimate from those two runs.
EXACT_MAX_ROWS = 100_000

#: HNSW parameters: links per node (M), efConstruction (build beam), efSearch (query beam). Chosen
#: with benchmarks/bench_ann.py on clustered 384-d data at 300k rows, 2 threads: 16/100/64 gave
#: recall@10 0.962 in 322 CPU s, where hnswlib 16/100/50 gave 0.909 in 347 CPU s; 16/100/128
#: gave 0.997 in 371 s, and a cheaper build (efConstruction 40) fell to 0.66 (0.71 with two
#: refinement rounds): the build beam, not the query beam, decides recall at scale.
HNSW_M = 16
EF_CONSTRUCTION = 100
EF_SEARCH = 64

#: Both beams have to grow with N to hold recall on hard data. Measured at 1M rows (the same
#: clustered 384-d data; recall@10 of 1,000 sampled rows; CPU s of the whole table, 2 threads):
#: efConstruction 100 with efSearch 64 → 0.58 (≈ 1,110 CPU s), 128 → 0.75, 256 → 0.90 (≈ 1,700),
#: 512 → 0.94; efConstruction 200 with efSearch 64 → 0.82, **128 → 0.95 (≈ 1,735)**, 256 → 0.99
#: (≈ 2,120). So the defaults hold up to BEAM_ROWS and both beams double by 1M rows:
#: ``hnsw_beams(n)`` scales them by (N / BEAM_ROWS) ** BEAM_GROWTH (2.0 at 1M), at most
#: BEAM_MAX_SCALE times.
BEAM_ROWS = 300_000
BEAM_GROWTH = 0.576  # log 2 / log(1M / 300k): twice the beams at 1M rows
BEAM_MAX_SCALE = 4.0


def hnsw_beams(n: int) -> tuple[int, int]:
    """(efConstruction, efSearch) for an N-row table: a bigger graph needs wider beams."""
    scale = min(BEAM_MAX_SCALE, max(1.0, n / BEAM_ROWS) ** BEAM_GROWTH)
    return round(EF_CONSTRUCTION * scale), round(EF_SEARCH * scale)


_CHUNK = 16384  # rows added per step (progress and cancellation granularity)
_QUERY_BLOCK = 1024  # rows per query task
_REFINE_BLOCK = 256  # rows per refinement task (gathers k + k² vectors per row)


class ApproximateIndexUnavailable(ImportError):
    """faiss-cpu, which the approximate neighbour table needs, is not installed."""


def _faiss() -> ModuleType:
    """Import faiss; its OpenMP threads wait passively unless the user chose otherwise.

    libgomp's default is to spin while waiting at barriers and locks: on a machine shared with
    other work (more runnable threads than cores) that burned ~60% extra CPU and wall time in
    the HNSW build here, while a passive wait costs nothing measurable. libgomp reads
    OMP_WAIT_POLICY once, when faiss loads it; the variable is removed again afterwards, so
    child processes do not inherit it.
    """
    if "faiss" in sys.modules:
        return sys.modules["faiss"]
    added = "OMP_WAIT_POLICY" not in os.environ
    if added:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - faiss-cpu is a core dependency
        msg = (
            "the approximate neighbour table needs faiss-cpu: `pip install faiss-cpu` "
            "(or compute the exact table: vv.neighbour_table(X, k, exact=True))"
        )
        raise ApproximateIndexUnavailable(msg) from e
    finally:
        if added:
            os.environ.pop("OMP_WAIT_POLICY", None)
    return faiss


def approximate_table(
    X: np.ndarray,
    k: int,
    *,
    threads: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], object] | None = None,
    m: int = HNSW_M,
    ef_construction: int | None = None,
    ef_search: int | None = None,
    refine: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate cosine k nearest neighbours of every row, self excluded: (N, k) int32, float32.

    Same form as ``similarity.neighbour_table``: rows sorted by score (desc), ties by lower
    index. Rows are inserted in a ``seed``-shuffled order (sorted inputs, e.g. by folder, do not
    degrade the graph). Deterministic for a given seed with ``threads=1``; with more threads
    the graph depends on thread timing, so a few neighbours can differ between runs (recall
    does not). ``threads``: default all CPUs. ``ef_construction``, ``ef_search``: default
    ``hnsw_beams(N)``. ``progress(done, total)`` is called in the
    calling thread after every block (total = 2N: N rows inserted, then N queried); to cancel,
    raise from it — the exception propagates and nothing is returned. Memory: X plus a float32
    copy inside the index (N × D × 4 bytes) plus the graph (≈ N × m × 8 bytes) plus the
    (N, k) outputs.
    """
    faiss = _faiss()
    if np.ndim(X) != 2:
        msg = f"approximate_table: X must be a 2-D array (N, D), got shape {np.shape(X)}"
        raise ValueError(msg)
    n: int
    d: int
    n, d = np.shape(X)
    if not 1 <= k <= n - 1:
        msg = f"approximate_table: k must be in [1, N-1] = [1, {n - 1}], got {k}"
        raise ValueError(msg)
    kq = min(n, k + 1)  # + the row itself
    efc_n, efs_n = hnsw_beams(n)
    ef_construction = efc_n if ef_construction is None else ef_construction
    ef = max(int(efs_n if ef_search is None else ef_search), kq)
    old_threads = faiss.omp_get_max_threads()
    nthreads = int(threads) if threads else (os.cpu_count() or 1)
    faiss.omp_set_num_threads(nthreads)
    try:
        order = np.random.default_rng(seed).permutation(n)
        index = faiss.IndexHNSWFlat(int(d), int(m), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(ef_construction)
        for s in range(0, n, _CHUNK):
            e = min(n, s + _CHUNK)
            index.add(_unit(X, order[s:e]))
            if progress is not None:
                progress(e, 2 * n)
        index.hnsw.efSearch = ef
        idx = np.empty((n, k), np.int32)
        scores = np.empty((n, k), np.float32)

        def query(s: int) -> int:  # one block of rows; faiss releases the GIL while searching
            faiss.omp_set_num_threads(1)  # per thread: the pool does the parallelism
            e = min(n, s + _QUERY_BLOCK)
            D, ids = index.search(_unit(X, slice(s, e)), kq)
            rows = np.where(ids >= 0, order[np.maximum(ids, 0)], -1)
            D = np.where(ids >= 0, D, -np.inf).astype(np.float32)
            idx[s:e], scores[s:e] = _finish(X, rows, D, np.arange(s, e), k)
            return e - s

        # Small blocks handed out as threads free up (not OpenMP's static split): on a busy
        # machine a descheduled thread then delays only its own block, not the whole pass.
        pool = ThreadPoolExecutor(max(1, nthreads))
        try:
            done = n
            for f in as_completed([pool.submit(query, s) for s in range(0, n, _QUERY_BLOCK)]):
                done += f.result()
                if progress is not None:
                    progress(done, 2 * n)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        faiss.omp_set_num_threads(old_threads)
    for _ in range(int(refine)):
        idx, scores = _refine(X, idx, scores, nthreads)
    return idx, scores


def _refine(
    X: np.ndarray, idx: np.ndarray, scores: np.ndarray, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """One local-join round: each row's k best among its neighbours and their neighbours.

    A neighbour's neighbour is very often a neighbour (the idea behind NN-descent); rescoring
    those k + k² candidates exactly repairs rows the graph search left short, at the cost of
    N·k² dot products (gathered, no N² work). Never lowers a row's scores.
    """
    n, k = idx.shape
    norms = np.empty(n, np.float32)
    for s in range(0, n, _CHUNK):
        norms[s : s + _CHUNK] = row_norms(np.asarray(X[s : s + _CHUNK], np.float32))
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    out_i, out_s = np.empty_like(idx), np.empty_like(scores)

    def block(s: int) -> None:
        e = min(n, s + _REFINE_BLOCK)
        cand = np.concatenate([idx[s:e], idx[idx[s:e]].reshape(e - s, -1)], axis=1)
        cand = np.sort(cand.astype(np.int64), axis=1)
        drop = np.zeros(cand.shape, bool)
        drop[:, 1:] = cand[:, 1:] == cand[:, :-1]
        drop |= cand == np.arange(s, e)[:, None]
        q = np.asarray(X[s:e], np.float32) * inv[s:e, None]
        G = np.asarray(X[cand.ravel()], np.float32).reshape(*cand.shape, -1)
        v = np.matmul(G, q[:, :, None])[:, :, 0] * inv[cand]
        v[drop] = -np.inf
        top = np.argpartition(-v, k - 1, axis=1)[:, :k]
        r, sc = np.take_along_axis(cand, top, 1), np.take_along_axis(v, top, 1)
        order = np.lexsort((r, -sc), axis=1)
        out_i[s:e] = np.take_along_axis(r, order, 1)
        out_s[s:e] = np.take_along_axis(sc, order, 1)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        for f in [pool.submit(block, s) for s in range(0, n, _REFINE_BLOCK)]:
            f.result()
    return out_i, out_s


def _unit(X: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
    """X[rows] as float32 unit vectors (zero rows stay zero), checked for NaN/inf."""
    try:
        return l2_normalise(np.asarray(X)[rows], what="approximate_table: X")
    except NonFiniteRowError as exc:
        msg = "approximate_table: X contains NaN or infinite values; rescan the affected images"
        raise ValueError(msg) from exc


def _finish(
    X: np.ndarray, rows: np.ndarray, D: np.ndarray, me: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Drop each query's own row (else its worst hit), then order by (score desc, row asc).

    A query for which the graph returned fewer than k other rows (rare: tiny or degenerate
    inputs, e.g. masses of identical vectors) gets its exact top k by brute force instead.
    """
    own = rows == me[:, None]
    own[~own.any(axis=1), -1] = True
    first = own & (np.cumsum(own, axis=1) == 1)
    b = rows.shape[0]
    r, v = rows[~first].reshape(b, -1)[:, :k], D[~first].reshape(b, -1)[:, :k]
    short = np.flatnonzero((r < 0).any(axis=1))
    if short.size:
        r[short], v[short] = _exact_rows(X, me[short], k)
    order = np.lexsort((r, -v), axis=1)
    return (
        np.take_along_axis(r, order, 1).astype(np.int32),
        np.take_along_axis(v, order, 1),
    )


def _exact_rows(X: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (self excluded) of a few rows, scanning X in bounded chunks."""
    Q = _unit(X, rows)
    n = np.shape(X)[0]
    best_v = np.full((rows.size, 0), -np.inf, np.float32)
    best_r = np.empty((rows.size, 0), np.int64)
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        sc = Q @ _unit(X, slice(s, e)).T
        own = (rows >= s) & (rows < e)
        sc[np.flatnonzero(own), rows[own] - s] = -np.inf
        v = np.concatenate([best_v, sc], axis=1)
        r = np.concatenate([best_r, np.broadcast_to(np.arange(s, e), sc.shape)], axis=1)
        keep = np.argsort(-v, axis=1, kind="stable")[:, :k]
        best_v, best_r = np.take_along_axis(v, keep, 1), np.take_along_axis(r, keep, 1)
    return best_r, best_v


#: The name ``similarity``/``topk`` calls above the exact size (``vv.neighbour_table``).
neighbour_table = approximate_table
