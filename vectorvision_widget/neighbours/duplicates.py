"""Duplicate groups in tiers: exact (same file bytes), near (DINOv2) and similar (SigLIP).

Pairs above a cosine threshold come from the neighbour table (``join.neighbour_table``: exact
up to ``EXACT_MAX_N`` rows, the blocked self-join with its recall target above, where near
duplicates are the nearest neighbours and so the surest to be found); a row whose whole top-k
is above the threshold is scanned exactly against every row, so large groups of copies are
complete. Pairs are joined into groups with a vectorised union-find.
"""

from __future__ import annotations

import numpy as np

from vectorvision_widget.neighbours.join import neighbour_table
from vectorvision_widget.neighbours.topk import _BLOCK_BYTES, _check
from vectorvision_widget.vectors import l2_normalise

__all__ = ["NEAR_DUPLICATE_COSINE", "SIMILAR_COSINE", "duplicates"]

#: DINOv2-S CLS cosine at or above which two images count as near-duplicates (re-encodes,
#: resizes, light crops or edits). Chosen from published DINOv2 / copy-detection practice, where
#: near-duplicate pairs sit around 0.9–0.98 and distinct photos of one scene lower; not tuned
#: on real weights here — re-tune on your own library (see README "Duplicates").
NEAR_DUPLICATE_COSINE = 0.95
#: SigLIP image-embedding cosine at or above which two images count as "similar" (same subject
#: and setting, e.g. burst shots). Chosen the same way (SigLIP image-image cosines of the same
#: scene are typically 0.85–0.95); a parameter, to be re-tuned with real weights.
SIMILAR_COSINE = 0.90


def duplicates(
    sha256s: list[str | None] | np.ndarray,
    visual: np.ndarray | None,
    semantic: np.ndarray | None,
    near: float = NEAR_DUPLICATE_COSINE,
    similar: float = SIMILAR_COSINE,
    *,
    block: int = 4096,
    exact: bool | None = None,
) -> dict[str, list[list[int]]]:
    """Duplicate groups in tiers: ``exact`` (same file hash), ``near`` (DINOv2 cosine ≥ near),
    ``similar`` (SigLIP cosine ≥ similar).

    Groups are connected components (union-find) of rows, sorted; each row appears at most once,
    in its first tier: later tiers only link rows not already grouped, so "keep one per group"
    never deletes across tiers. ``None`` hashes and all-zero vectors never match. Pass
    ``visual=None`` / ``semantic=None`` to skip a tier. ``exact``: as for ``neighbour_table``
    (``True``: every pair above the threshold, scanning all N² pairs).
    """
    hashes = list(sha256s)
    n = len(hashes)
    grouped = np.zeros(n, dtype=bool)
    result: dict[str, list[list[int]]] = {"exact": [], "near": [], "similar": []}
    by_hash: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        if h:
            by_hash.setdefault(str(h), []).append(i)
    same_bytes = sorted(g for g in by_hash.values() if len(g) > 1)
    result["exact"] = same_bytes
    for g in same_bytes:
        grouped[g] = True
    for tier, X, thr in (("near", visual, near), ("similar", semantic, similar)):
        if X is None:
            continue
        A = l2_normalise(_check(X, tier), check_finite=False)
        if A.shape[0] != n:
            msg = f"duplicates: {tier} vectors have {A.shape[0]} rows but there are {n} hashes"
            raise ValueError(msg)
        free = np.flatnonzero(~grouped & (np.abs(A).sum(axis=1) > 0))
        a, b = _pairs_above(A[free], float(thr), block, exact)
        groups = _components(free.size, a, b)
        result[tier] = sorted(sorted(free[g].tolist()) for g in groups)
        for g in result[tier]:
            grouped[g] = True
    return result


#: Neighbours per row taken from the neighbour table when looking for pairs above a threshold.
PAIR_NEIGHBOURS = 10


def _pairs_above(
    A: np.ndarray, thr: float, block: int, exact: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs i < j with A[i]·A[j] >= thr (unit rows): the neighbour table's pairs above the
    threshold; rows whose whole top-k is above it are scanned exactly against every row."""
    n = A.shape[0]
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if exact:
        return _scan_pairs(A, np.arange(n), thr, block, upper=True)
    k = min(n - 1, PAIR_NEIGHBOURS)
    idx, scores = neighbour_table(A, k, exact=exact, normalize=False)
    r, c = np.nonzero(scores >= thr)
    a, b = r.astype(np.int64), idx[r, c].astype(np.int64)
    full = np.flatnonzero(scores[:, -1] >= thr)  # maybe more than k above thr: scan them
    if full.size:
        fa, fb = _scan_pairs(A, full, thr, block, upper=False)
        a, b = np.concatenate([a, fa]), np.concatenate([b, fb])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(lo * n + hi)
    return pairs // n, pairs % n


def _scan_pairs(
    A: np.ndarray, rows: np.ndarray, thr: float, block: int, *, upper: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (row, j), j != row, with A[row]·A[j] >= thr, for the given sorted ``rows``, in
    memory-bounded blocks; ``upper`` (rows = all rows): only columns j > row are scored."""
    n = A.shape[0]
    step = int(max(1, min(block, _BLOCK_BYTES // (4 * max(n, 1)))))
    ai, bi = [], []
    for s in range(0, rows.size, step):
        q = rows[s : s + step]
        c0 = int(q[0]) if upper else 0  # upper triangle: only columns j >= first row
        sc = A[q] @ A[c0:].T
        r, c = np.nonzero(sc >= thr)
        c = c + c0
        keep = c > q[r] if upper else c != q[r]
        ai.append(q[r[keep]])
        bi.append(c[keep])
    if not ai:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(ai).astype(np.int64), np.concatenate(bi).astype(np.int64)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Connected components (size >= 2) of an edge list: vectorised union-find.

    Hooks the larger root under the smaller and compresses paths fully each round, so it
    finishes in O(log n) rounds of numpy operations even for millions of edges.
    """
    parent = np.arange(n)
    while a.size:
        pa, pb = parent[a], parent[b]
        lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
        diff = lo != hi
        if not diff.any():
            break
        np.minimum.at(parent, hi[diff], lo[diff])
        while True:  # full path compression: every node points at its root
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
    sizes = np.bincount(parent, minlength=n)
    roots = np.flatnonzero(sizes > 1)
    order = np.argsort(parent, kind="stable")
    bounds = np.cumsum(sizes)
    return [order[bounds[r] - sizes[r] : bounds[r]] for r in roots]
