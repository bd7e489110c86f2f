"""Duplicate groups in tiers: exact (same file bytes), near (DINOv2) and similar (SigLIP).

Pairs above a cosine threshold are found exactly, in memory-bounded blocks of the upper
triangle, and joined into groups with a vectorised union-find.
"""

from __future__ import annotations

import numpy as np

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
) -> dict[str, list[list[int]]]:
    """Duplicate groups in tiers: ``exact`` (same file hash), ``near`` (DINOv2 cosine ≥ near),
    ``similar`` (SigLIP cosine ≥ similar).

    Groups are connected components (union-find) of rows, sorted; each row appears at most once,
    in its first tier: later tiers only link rows not already grouped, so "keep one per group"
    never deletes across tiers. ``None`` hashes and all-zero vectors never match. Pass
    ``visual=None`` / ``semantic=None`` to skip a tier.
    """
    hashes = list(sha256s)
    n = len(hashes)
    grouped = np.zeros(n, dtype=bool)
    result: dict[str, list[list[int]]] = {"exact": [], "near": [], "similar": []}
    by_hash: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        if h:
            by_hash.setdefault(str(h), []).append(i)
    exact = sorted(g for g in by_hash.values() if len(g) > 1)
    result["exact"] = exact
    for g in exact:
        grouped[g] = True
    for tier, X, thr in (("near", visual, near), ("similar", semantic, similar)):
        if X is None:
            continue
        A = l2_normalise(_check(X, tier), check_finite=False)
        if A.shape[0] != n:
            msg = f"duplicates: {tier} vectors have {A.shape[0]} rows but there are {n} hashes"
            raise ValueError(msg)
        free = np.flatnonzero(~grouped & (np.abs(A).sum(axis=1) > 0))
        a, b = _pairs_above(A[free], float(thr), block)
        groups = _components(free.size, a, b)
        result[tier] = sorted(sorted(free[g].tolist()) for g in groups)
        for g in result[tier]:
            grouped[g] = True
    return result


def _pairs_above(A: np.ndarray, thr: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j with A[i]·A[j] >= thr, scored in memory-bounded blocks."""
    n = A.shape[0]
    step = int(max(1, min(block, _BLOCK_BYTES // (4 * max(n, 1)))))
    ai, bi = [], []
    for s in range(0, n, step):
        sc = A[s : s + step] @ A[s:].T  # only columns j >= s: the upper triangle
        r, c = np.nonzero(sc >= thr)
        keep = c > r  # column offset is s, row offset is s: j > i
        ai.append(r[keep] + s)
        bi.append(c[keep] + s)
    if not ai:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(ai), np.concatenate(bi)


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
