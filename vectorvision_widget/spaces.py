"""Similarity spaces: visual, semantic, hybrid (a weighted mix) and fused (concatenation).

``visual`` (DINOv2: looks alike), ``semantic`` (SigLIP: means alike), ``hybrid``
(w·visual_cos + (1−w)·semantic_cos) and ``fused`` (the concatenation of both unit vectors,
re-normalised; its cosine is (visual_cos + semantic_cos) / 2, i.e. hybrid at w = 0.5).
The one list of space names is ``modes.SPACES`` (re-exported here).
"""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np

from .modes import SPACES
from .topk import _BLOCK_BYTES, _check, _select, neighbour_table, top_k
from .vectors import l2_normalise

__all__ = [
    "SPACES",
    "HybridNeighbours",
    "Space",
    "fused_vectors",
    "hybrid_scores",
    "similar",
    "weight_value",
]

Space = Literal["visual", "semantic", "hybrid", "fused"]
#: spaces that use visual (DINOv2) vectors
VISUAL_SPACES: tuple[str, ...] = ("visual", "hybrid", "fused")


def _unit(X: np.ndarray, name: str) -> np.ndarray:
    return l2_normalise(_check(X, name), check_finite=False)


def fused_vectors(visual: np.ndarray, semantic: np.ndarray) -> np.ndarray:
    """Concatenated unit vectors, re-normalised: cosine = (visual_cos + semantic_cos) / 2."""
    v, s = _unit(visual, "visual"), _unit(semantic, "semantic")
    if v.shape[0] != s.shape[0]:
        msg = f"fused_vectors: visual has {v.shape[0]} rows but semantic has {s.shape[0]}"
        raise ValueError(msg)
    return l2_normalise(np.concatenate([v, s], axis=1), copy=False, check_finite=False)


def hybrid_scores(
    visual: np.ndarray, semantic: np.ndarray, row: int, weight: float = 0.5
) -> np.ndarray:
    """(N,) exact hybrid cosine of ``row`` against every row: w·visual + (1−w)·semantic."""
    w = weight_value(weight)
    v, s = _unit(visual, "visual"), _unit(semantic, "semantic")
    return w * (v @ v[row]) + (1.0 - w) * (s @ s[row])


def weight_value(weight: float) -> float:
    w = float(weight)
    if not 0.0 <= w <= 1.0:
        msg = f"hybrid weight must be in [0, 1] (1 = visual only, 0 = semantic only), got {weight}"
        raise ValueError(msg)
    return w


def similar(
    visual: np.ndarray | None,
    semantic: np.ndarray,
    row: int,
    k: int = 20,
    space: Space = "visual",
    weight: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """The k rows most similar to ``row`` (itself excluded) in ``space``: (idx int64, scores)."""
    if space not in SPACES:
        msg = f"similar: space must be one of {SPACES}, got {space!r}"
        raise ValueError(msg)
    if visual is None and space != "semantic":
        msg = (
            f"similar: space={space!r} needs visual (DINOv2) features; pass them, or use "
            f"space='semantic' (rescan the library to compute visual features)"
        )
        raise ValueError(msg)
    n = np.shape(semantic)[0]
    if not 0 <= row < n:
        msg = f"similar: row {row} is out of range for {n} images"
        raise IndexError(msg)
    if space == "semantic":
        s = _unit(semantic, "semantic")
        return top_k(s, s[row], k, exclude=row)
    if space == "visual":
        v = _unit(visual, "visual")
        return top_k(v, v[row], k, exclude=row)
    if space == "fused":
        f = fused_vectors(visual, semantic)
        return top_k(f, f[row], k, exclude=row)
    scores = hybrid_scores(visual, semantic, row, weight)[None, :]
    scores[0, row] = -np.inf
    idx, vals = _select(scores, min(k, n - 1))
    return idx[0], vals[0]


class HybridNeighbours:
    """Neighbour tables for any hybrid weight, fast enough to follow a slider at 100k images.

    Precomputes each space's top-K (K = ``candidates``, default 4k) and both cosines for every
    candidate in the union, once; ``table(w)`` then only re-ranks ≤ 2K candidates per row
    (tens of ms at 100k) instead of a fresh N×N pass (minutes), and never recomputes the
    candidates. Trade-off: exact at w = 0 and w = 1 (K ≥ k, exact tables); in between, a true
    hybrid neighbour that is in neither space's top-K is missed. Recall is high when the two
    spaces agree (real photos: what looks alike mostly means alike) and lowest at w = 0.5 when
    they are unrelated (see benchmarks/bench_neighbours.py); raise ``candidates`` to trade
    memory/precompute for recall. ``exact`` is passed to ``neighbour_table`` for the candidate
    tables (None: exact below ``topk.EXACT_MAX_N`` rows, the approximate index above).
    Memory: N × 2K × 12 bytes (≈ 96 MB at 100k, k = 10, K = 40).
    """

    def __init__(
        self,
        visual: np.ndarray,
        semantic: np.ndarray,
        k: int = 10,
        candidates: int | None = None,
        *,
        block: int = 4096,
        exact: bool | None = None,
        normalize: bool = True,
    ) -> None:
        v = _unit(visual, "visual") if normalize else visual
        s = _unit(semantic, "semantic") if normalize else semantic
        if v.shape[0] != s.shape[0]:
            msg = f"HybridNeighbours: visual has {v.shape[0]} rows, semantic {s.shape[0]}"
            raise ValueError(msg)
        n = v.shape[0]
        n_cand = min(n - 1, candidates if candidates is not None else 4 * k)
        if not 1 <= k <= n_cand:
            msg = f"HybridNeighbours: need 1 <= k ({k}) <= candidates ({n_cand}) <= N-1 ({n - 1})"
            raise ValueError(msg)
        self.k, self.candidates = k, n_cand
        iv, _ = neighbour_table(v, n_cand, block=block, normalize=False, exact=exact)
        isem, _ = neighbour_table(s, n_cand, block=block, normalize=False, exact=exact)
        union = np.concatenate([iv, isem], axis=1).astype(np.int32)
        del iv, isem
        union.sort(axis=1)  # by row index: position order = index order, so ties stay canonical
        dup = np.zeros(union.shape, dtype=bool)
        dup[:, 1:] = union[:, 1:] == union[:, :-1]
        self._idx = union
        self._vis = _pair_cos(v, union)
        self._sem = _pair_cos(s, union)
        # a candidate in both lists is scored once: its copy gets -2 in both spaces, below any
        # cosine, so every weight ranks it last without a mask pass per call (K ≥ k real ones)
        self._vis[dup] = -2.0
        self._sem[dup] = -2.0
        self._buf = np.empty(union.shape, np.float32)
        self._tmp = np.empty(union.shape, np.float32)
        self._lock = threading.Lock()  # the buffers are shared by calls

    def table(self, weight: float) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) int32 neighbours and float32 hybrid scores for ``weight`` (1 = visual)."""
        w = weight_value(weight)
        with self._lock:
            scores, tmp = self._buf, self._tmp
            np.multiply(self._vis, np.float32(w), out=scores)
            np.multiply(self._sem, np.float32(1.0 - w), out=tmp)
            scores += tmp
            sel, vals = _select(scores, self.k)
        return np.take_along_axis(self._idx, sel, 1), vals.astype(np.float32, copy=False)


def _pair_cos(A: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """cos(A[i], A[idx[i, j]]) for every (i, j), gathered in blocks of <= 64 MiB."""
    out = np.empty(idx.shape, dtype=np.float32)
    rows_per_block = max(1, _BLOCK_BYTES // (4 * max(1, idx.shape[1] * A.shape[1])))
    for s in range(0, idx.shape[0], rows_per_block):
        e = min(idx.shape[0], s + rows_per_block)
        out[s:e] = np.einsum("id,ijd->ij", A[s:e], A[idx[s:e]])
    return out
