"""Similarity spaces: visual, semantic, hybrid (a weighted mix) and fused (concatenation).

``visual`` (DINOv2: looks alike), ``semantic`` (SigLIP: means alike), ``hybrid``
(w·visual_cos + (1−w)·semantic_cos) and ``fused`` (the concatenation of both unit vectors,
re-normalised; its cosine is (visual_cos + semantic_cos) / 2, i.e. hybrid at w = 0.5).
The one list of space names is ``modes.SPACES`` (re-exported here).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from vectorvision_widget.modes import SPACES
from vectorvision_widget.neighbours.join import neighbour_table
from vectorvision_widget.neighbours.topk import (
    _BLOCK_BYTES,
    _check,
    _select,
    top_k,
)
from vectorvision_widget.vectors import l2_normalise

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
    scores: np.ndarray = w * (v @ v[row]) + (1.0 - w) * (s @ s[row])
    return scores


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
    if space == "semantic" or visual is None:  # visual is None only here (checked above)
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
    tables (None: exact below ``join.EXACT_MAX_N`` rows, the self-join with its recall target
    above).
    Memory: N × 2K × 12 bytes (≈ 96 MB at 100k, k = 10, K = 40), plus ~5 MB per thread
    while re-ranking. ``tables``: the two spaces' neighbour indices when already computed
    (visual, semantic; (N, ≥ K) each, best first), used instead of computing them again.
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
        tables: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        v = _unit(visual, "visual") if normalize else visual
        s = _unit(semantic, "semantic") if normalize else semantic
        if v.shape[0] != s.shape[0]:
            msg = f"HybridNeighbours: visual has {v.shape[0]} rows, semantic {s.shape[0]}"
            raise ValueError(msg)
        n = v.shape[0]
        n_cand = self.candidate_count(n, k, candidates)
        self.k, self.candidates = k, n_cand
        if tables is None:
            iv, _ = neighbour_table(v, n_cand, block=block, normalize=False, exact=exact)
            isem, _ = neighbour_table(s, n_cand, block=block, normalize=False, exact=exact)
        else:
            if len(tables) != len(SIDES):
                msg = f"HybridNeighbours: tables must be {SIDES}, got {len(tables)} tables"
                raise ValueError(msg)
            pairs = zip(tables, SIDES, strict=True)
            iv, isem = (self._given(t, n, n_cand, name) for t, name in pairs)
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

    @staticmethod
    def candidate_count(n: int, k: int, candidates: int | None = None) -> int:
        """K, the candidates per space for N rows and k (default 4k, at most N - 1)."""
        n_cand = min(n - 1, candidates if candidates is not None else 4 * k)
        if not 1 <= k <= n_cand:
            msg = f"HybridNeighbours: need 1 <= k ({k}) <= candidates ({n_cand}) <= N-1 ({n - 1})"
            raise ValueError(msg)
        return n_cand

    @staticmethod
    def _given(table: np.ndarray, n: int, n_cand: int, name: str) -> np.ndarray:
        if np.ndim(table) != 2 or table.shape[0] != n or table.shape[1] < n_cand:
            msg = (
                f"HybridNeighbours: the {name} table must be (N, >= K) = ({n}, >= {n_cand}), "
                f"got {np.shape(table)}"
            )
            raise ValueError(msg)
        return table[:, :n_cand]

    def table(self, weight: float) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) int32 neighbours and float32 hybrid scores for ``weight`` (1 = visual).

        Re-ranks in blocks of rows (cache-sized), on a few threads (numpy releases the GIL).
        """
        w = weight_value(weight)
        n = self._idx.shape[0]
        out_i = np.empty((n, self.k), np.int32)
        out_v = np.empty((n, self.k), np.float32)
        starts = range(0, n, _RERANK_ROWS)
        threads = min(len(starts), _RERANK_THREADS)
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda s: self._rerank(w, s, out_i, out_v), starts))
        else:
            for start in starts:
                self._rerank(w, start, out_i, out_v)
        return out_i, out_v

    def _rerank(self, w: float, s: int, out_i: np.ndarray, out_v: np.ndarray) -> None:
        """Rows [s, s + _RERANK_ROWS): one values-only partition of uint64 keys whose high 32
        bits are the score made order-preserving as an unsigned int and whose low 32 bits are
        (C-1 - position), so it ranks by (score desc, position = row index asc) exactly like
        the canonical selection, ~10× faster than an argpartition of short rows."""
        e = min(self._idx.shape[0], s + _RERANK_ROWS)
        c, k = self._idx.shape[1], self.k
        scores = self._vis[s:e] * np.float32(w)
        scores += self._sem[s:e] * np.float32(1.0 - w)
        scores += np.float32(0.0)  # -0.0 -> +0.0: equal scores must get equal keys
        bits = scores.view(np.int32)
        mask = np.right_shift(bits, 31)  # -1 where negative, else 0
        mask |= np.int32(-(2**31))  # negative: flip every bit; else: flip the sign bit
        keys = np.empty((e - s, c), np.uint64)
        halves = keys.view(np.uint32).reshape(e - s, c, 2)
        lo, hi = (0, 1) if np.little_endian else (1, 0)
        halves[..., lo] = np.arange(c - 1, -1, -1, dtype=np.uint32)
        np.bitwise_xor(bits.view(np.uint32), mask.view(np.uint32), out=halves[..., hi])
        top = np.partition(keys, c - k, axis=1)[:, c - k :]
        top.sort(axis=1)
        pos = (c - 1) - (top[:, ::-1] & np.uint64(0xFFFFFFFF)).astype(np.intp)
        out_v[s:e] = np.take_along_axis(scores, pos, axis=1)
        out_i[s:e] = np.take_along_axis(self._idx[s:e], pos, axis=1)


SIDES = ("visual", "semantic")  # the order of HybridNeighbours' ``tables``
_RERANK_ROWS = 4096  # rows per re-rank block: ~5 MB of temporaries, stays in cache
_RERANK_THREADS = max(1, min(4, os.cpu_count() or 1))


def _pair_cos(A: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """cos(A[i], A[idx[i, j]]) for every (i, j), gathered in blocks of <= 64 MiB."""
    out = np.empty(idx.shape, dtype=np.float32)
    rows_per_block = max(1, _BLOCK_BYTES // (4 * max(1, idx.shape[1] * A.shape[1])))
    for s in range(0, idx.shape[0], rows_per_block):
        e = min(idx.shape[0], s + rows_per_block)
        out[s:e] = np.einsum("id,ijd->ij", A[s:e], A[idx[s:e]])
    return out
