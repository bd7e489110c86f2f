"""Exact cosine top-k kernels: single/batched queries and all-rows neighbour tables.

Everything is exact brute force with BLAS in memory-bounded blocks; results are canonical
(score desc, then lower row), so they do not depend on block sizes. The all-rows table with a
recall target (``neighbour_table``) is the blocked self-join of ``join.py``, built on these.
Rows that are all zeros score 0 against everything.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vectorvision_widget.vectors import l2_normalise

__all__ = ["exact_neighbour_table", "top_k"]

_BLOCK_BYTES = 64 << 20  # budget for one (block × N) float32 score matrix


def _check(X: np.ndarray, name: str) -> np.ndarray:
    A = np.asarray(X, dtype=np.float32)
    if A.ndim != 2:
        msg = f"similarity: {name} must be a 2-D array (N, D), got shape {A.shape}"
        raise ValueError(msg)
    if not np.isfinite(A).all():
        msg = f"similarity: {name} contains NaN or infinite values; rescan the affected images"
        raise ValueError(msg)
    return A


_SCAN_CHUNK = 8  # rows/columns per chunk when scanning a strip against running thresholds
_DENSE_ELEMS = 1 << 21  # scores ranked at once on the dense path (~50 MB of temporaries)
_PAIR_CHUNK = 4  # rows and columns per block in the one-pass tile scan (measured: 4 beats 8)
_PAIR_SHARE = 8  # the one-pass tile scan gathers at most 1/8 of a tile's scores
_CHUNK = 64  # columns per chunk in the chunk-max prefilter (measured: 32–128 are all close)


def _select(
    scores: np.ndarray, k: int, keys: np.ndarray | None = None, *, ordered: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k positions per row ordered by (score desc, key asc); key defaults to the column.

    Canonical under ties, also at the k-th place (argpartition alone picks an arbitrary tied
    element there), so results do not depend on block sizes or on the selection path.
    """
    b, n = scores.shape
    k = min(k, n)
    if k <= 0:
        return np.empty((b, 0), np.int64), np.empty((b, 0), np.float32)
    if k < n:
        part = np.argpartition(scores, n - k, axis=1)[:, n - k :]
        vals = np.take_along_axis(scores, part, axis=1)
        kth = vals.min(axis=1)
        n_all = np.count_nonzero(scores == kth[:, None], axis=1)
        n_sel = np.count_nonzero(vals == kth[:, None], axis=1)
        for r in np.flatnonzero((n_all > n_sel) & np.isfinite(kth)):  # rare: a tie at k-th
            above = np.flatnonzero(scores[r] > kth[r])
            tied = np.flatnonzero(scores[r] == kth[r])
            tkeys = tied if keys is None else keys[r, tied]
            part[r] = np.concatenate([above, tied[np.argsort(tkeys, kind="stable")]])[:k]
            vals[r] = scores[r, part[r]]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape)
        vals = scores
    if not ordered:  # the right set, in no particular order (running merges)
        return part, vals
    kv = part if keys is None else np.take_along_axis(keys, part, axis=1)
    order = np.lexsort((kv, -vals), axis=1)
    return np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)


def _select_rows(S: np.ndarray, k: int, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact canonical top-k per row of a dense (B, N) score matrix, without ranking all N.

    Columns are split into N // chunk strided chunks (chunk g = columns g, g + N//chunk, ...:
    the max over them is one fast vectorised pass). A row's k-th best score is at least the
    k-th best chunk maximum t, so every top-k element lies in a chunk whose max is >= t; when
    exactly k chunks qualify (no tie at t), only those k·chunk scores (+ the leftover columns)
    are ranked. Rows with a tie at t fall back to ranking the whole row.
    """
    b, n = S.shape
    k = min(k, n)
    chunk = chunk or _CHUNK
    nc = n // chunk
    if k <= 0 or nc < 4 * k:
        return _select(S, k)
    m = nc * chunk
    cmax = S[:, :m].reshape(b, chunk, nc).max(axis=1)
    top = np.argpartition(cmax, nc - k, axis=1)[:, nc - k :]
    t = np.take_along_axis(cmax, top, axis=1).min(axis=1)
    fast = np.count_nonzero(cmax >= t[:, None], axis=1) == k
    out_i = np.empty((b, k), np.int64)
    out_v = np.empty((b, k), np.float32)
    rows = np.flatnonzero(fast)
    if rows.size:
        cols = (top[rows, :, None] + nc * np.arange(chunk)).reshape(rows.size, k * chunk)
        if m < n:
            rest = np.broadcast_to(np.arange(m, n), (rows.size, n - m))
            cols = np.concatenate([cols, rest], axis=1)
        sel, vals = _select(S[rows[:, None], cols], k, keys=cols)
        out_i[rows] = np.take_along_axis(cols, sel, axis=1)
        out_v[rows] = vals
    slow = np.flatnonzero(~fast)
    if slow.size:
        out_i[slow], out_v[slow] = _select(S[slow], k)
    return out_i, out_v


def top_k(
    X: np.ndarray,
    q: np.ndarray,
    k: int,
    exclude: int | np.ndarray | None = None,
    *,
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of X with the largest dot product with q (cosine when both are unit-normalised).

    q: (D,) → returns (k,) int64 indices and float32 scores, best first (ties: lower row
    first); q: (Q, D) → (Q, k). ``exclude``: row indices never returned (e.g. the query).
    ``check=False`` skips the whole-matrix NaN/Inf scan (for matrices already known finite,
    such as a Library's: that scan costs as much as the query itself).
    """
    A = _check(X, "X") if check else X
    Q = np.asarray(q, dtype=np.float32)
    single = Q.ndim == 1
    Q = Q[None, :] if single else Q
    if Q.ndim != 2 or Q.shape[1] != A.shape[1]:
        msg = f"top_k: query shape {np.shape(q)} does not match X's {A.shape[1]} columns"
        raise ValueError(msg)
    n_out = A.shape[0]
    ex = None
    if exclude is not None:
        ex = np.atleast_1d(np.asarray(exclude, dtype=np.int64))
        n_out -= np.unique(ex).size
    kk = min(k, n_out)
    idx = np.empty((Q.shape[0], max(kk, 0)), np.int64)
    vals = np.empty((Q.shape[0], max(kk, 0)), np.float32)
    step = int(max(1, _BLOCK_BYTES // (4 * max(1, A.shape[0]))))
    for s in range(0, Q.shape[0], step):
        scores = Q[s : s + step] @ A.T
        if ex is not None:
            scores[:, ex] = -np.inf
        idx[s : s + step], vals[s : s + step] = _select_rows(scores, kk)
    return (idx[0], vals[0]) if single else (idx, vals)


class _Running:
    """Each row's best k (score, column) so far, canonical, plus its k-th score θ.

    Callers only offer columns larger than any already held for that row, so a new score
    equal to θ can never enter the top k (it would lose the tie): only scores > θ are
    candidates, which keeps exact ties (duplicates) from flooding the merge.
    """

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k
        self.vals = np.full((n, k), -np.inf, np.float32)
        self.cols = np.full((n, k), n, np.int32)  # sentinel n sorts after every real column
        self.theta = np.full(n, -np.inf, np.float32)

    def offer(self, S: np.ndarray, row0: int, col0: int, *, transposed: bool = False) -> None:
        """Merge S[i, j] as the score of column col0 + j for row row0 + i.

        ``transposed``: S[i, j] is instead the score of column col0 + i for row row0 + j (the
        strip seen from the later rows; avoids scanning a transposed view, which is slow).
        """
        theta = self.theta[row0 : row0 + (S.shape[1] if transposed else S.shape[0])]
        found = _above(S, theta, transposed, limit=S.size // 8)
        if found is None:  # dense: rank each row's best k, then merge k + k
            T = S.T if transposed else S
            step = max(1, _DENSE_ELEMS // T.shape[1])  # slices: ranking temporaries stay small
            for a in range(0, T.shape[0], step):
                pos, v = _select_rows(np.ascontiguousarray(T[a : a + step]), self.k)
                rows = np.arange(row0 + a, row0 + a + pos.shape[0])
                self._merge(rows, v, (pos + col0).astype(np.int32))
            return
        r, c, v = found
        self._merge_sparse(r + row0, c + col0, v)

    def offer_pair(self, S: np.ndarray, row0: int, col0: int) -> None:
        """Merge an off-diagonal tile both ways: S[i, j] scores column col0 + j for row row0 + i
        and column row0 + i for row col0 + j (requires col0 >= row0 + S.shape[0]).

        One pass serves both directions: the max over each strided 8 × 8 block (rows
        I + nb·t, columns G + nc·u; reducing over the leading axis is numpy's fastest
        reduction) is compared against the lower of its rows' and columns' θ, and only the
        blocks that pass are gathered and tested exactly. Falls back to two ``offer`` calls
        while θ is still low (early strips), where most blocks pass.
        """
        b, w = S.shape
        c = _PAIR_CHUNK
        nb, nc = b // c, w // c
        mb, mw = nb * c, nc * c
        if nb == 0 or nc == 0 or not self._pair(S[:mb, :mw], row0, col0):
            self.offer(S, row0, col0)
            self.offer(S, col0, row0, transposed=True)
            return
        # leftovers, each column still offered after the lower ones: the right edge, then
        # the bottom rows against the whole width
        if mw < w:
            self.offer(S[:mb, mw:], row0, col0 + mw)
            self.offer(S[:mb, mw:], col0 + mw, row0, transposed=True)
        if mb < b:
            self.offer(S[mb:], row0 + mb, col0)
            self.offer(S[mb:], col0, row0 + mb, transposed=True)

    def _pair(self, S: np.ndarray, row0: int, col0: int) -> bool:
        b, w = S.shape
        c = _PAIR_CHUNK
        nb, nc = b // c, w // c
        tr = self.theta[row0 : row0 + b]
        tc = self.theta[col0 : col0 + w]
        bmax = S.reshape(c, nb, w).max(axis=0).reshape(nb, c, nc).max(axis=1)
        lo = np.minimum(tr.reshape(c, nb).min(axis=0)[:, None], tc.reshape(c, nc).min(axis=0))
        bi, bg = np.nonzero(bmax > lo)
        if bi.size * c * c > S.size // _PAIR_SHARE:
            return False
        if bi.size == 0:
            return True
        step = np.arange(c)
        rows = bi[:, None] + nb * step  # (K, c)
        cols = bg[:, None] + nc * step
        vals = S[rows[:, :, None], cols[:, None, :]]  # (K, c, c)
        rr = np.broadcast_to(rows[:, :, None], vals.shape)
        cc = np.broadcast_to(cols[:, None, :], vals.shape)
        hit = vals > tr[rows][:, :, None]
        self._merge_sparse(rr[hit] + row0, cc[hit] + col0, vals[hit], ordered=False)
        hit = vals > tc[cols][:, None, :]
        self._merge_sparse(cc[hit] + col0, rr[hit] + row0, vals[hit], ordered=False)
        return True

    def _merge_sparse(
        self, r: np.ndarray, c: np.ndarray, v: np.ndarray, *, ordered: bool = True
    ) -> None:
        """Merge candidates (row r, column c, score v); ``ordered``: r is already sorted."""
        if r.size == 0:
            return
        if not ordered:
            o = np.argsort(r, kind="stable")
            r, c, v = r[o], c[o], v[o]
        u, start, cnt = np.unique(r, return_index=True, return_counts=True)
        pos = np.arange(r.size) - np.repeat(start, cnt)
        # pad rows to a power of two ≥ their count, one merge per width: a few rows with many
        # candidates (duplicates, early blocks) must not pad every row to their width
        width = 1 << np.ceil(np.log2(cnt)).astype(np.int64)
        for w in np.unique(width):
            ru = np.flatnonzero(width == w)
            slot = np.full(u.size, -1)
            slot[ru] = np.arange(ru.size)
            mine = np.repeat(slot, cnt)
            keep = mine >= 0
            cv = np.full((ru.size, int(w)), -np.inf, np.float32)
            ck = np.full(cv.shape, self.n, np.int32)
            cv[mine[keep], pos[keep]] = v[keep]
            ck[mine[keep], pos[keep]] = c[keep]
            self._merge(u[ru], cv, ck)

    def _merge(self, rows: np.ndarray, cv: np.ndarray, ck: np.ndarray) -> None:
        v = np.concatenate([self.vals[rows], cv], axis=1)
        key = np.concatenate([self.cols[rows], ck], axis=1)
        sel, best = _select(v, self.k, keys=key, ordered=False)
        self.vals[rows] = best
        self.cols[rows] = np.take_along_axis(key, sel, axis=1)
        self.theta[rows] = best.min(axis=1)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) int32 columns and float32 scores, by score desc then column asc."""
        order = np.lexsort((self.cols, -self.vals), axis=1)
        return np.take_along_axis(self.cols, order, 1), np.take_along_axis(self.vals, order, 1)


def _above(
    S: np.ndarray, theta: np.ndarray, transposed: bool, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Entries of S above their row's θ (θ per column if ``transposed``) as (row, col, score)
    sorted by row (rows/cols swapped if ``transposed``), or None if there are over ``limit``.

    Scans chunk maxima first (strided chunks: one fast vectorised max pass instead of a
    compare plus a nonzero over every score), then only the chunks whose max beats θ.
    """
    b, w = S.shape
    c = _SCAN_CHUNK
    if transposed:
        nb = b // c
        cmax = S[: nb * c].reshape(c, nb, w).max(axis=0)  # chunk g = rows g, g + nb, ...
        g, j = np.divmod(np.flatnonzero(cmax > theta[None, :]), w)
        if g.size * c > limit:
            return None
        rows = g[:, None] + nb * np.arange(c)
        vals = S[rows, j[:, None]]
        keep = vals > theta[j][:, None]
        i, jj, v = rows[keep], np.broadcast_to(j[:, None], rows.shape)[keep], vals[keep]
        if nb * c < b:  # leftover rows
            li, lj = np.divmod(np.flatnonzero(S[nb * c :] > theta[None, :]), w)
            i, jj, v = (
                np.concatenate([i, li + nb * c]),
                np.concatenate([jj, lj]),
                np.concatenate([v, S[li + nb * c, lj]]),
            )
        order = np.argsort(jj, kind="stable")
        return jj[order], i[order], v[order]
    nc = w // c
    cmax = S[:, : nc * c].reshape(b, c, nc).max(axis=1)  # chunk g = columns g, g + nc, ...
    i, g = np.divmod(np.flatnonzero(cmax > theta[:, None]), nc)
    if g.size * c > limit:
        return None
    cols = g[:, None] + nc * np.arange(c)
    vals = S[i[:, None], cols]
    keep = vals > theta[i][:, None]
    ii, j, v = np.broadcast_to(i[:, None], cols.shape)[keep], cols[keep], vals[keep]
    if nc * c < w:  # leftover columns
        li, lj = np.divmod(np.flatnonzero(S[:, nc * c :] > theta[:, None]), w - nc * c)
        ii, j, v = (
            np.concatenate([ii, li]),
            np.concatenate([j, lj + nc * c]),
            np.concatenate([v, S[li, lj + nc * c]]),
        )
    order = np.argsort(ii, kind="stable")
    return ii[order], j[order], v[order]


def exact_neighbour_table(
    X: np.ndarray,
    k: int,
    *,
    block: int = 4096,
    normalize: bool = True,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k nearest neighbours of every row, self excluded: (N, k) int32, float32.

    Rows are sorted by score (desc), ties by lower index — the brute-force answer exactly.
    Scores are symmetric, so only the upper triangle is computed (half the BLAS work, which
    dominates): row block [s, e) is scored against columns >= s once, and that strip feeds
    both its own rows and, transposed, the later rows' running top-k. Each row keeps its k-th
    best so far (θ); only strip scores above θ are merged, which after the first few blocks is
    a handful per row, so nothing ranks whole 100k-long rows. Memory stays bounded: one tile
    of ``block`` rows and at most 64 MiB of scores, plus the (N, k) tables.
    """
    A = l2_normalise(_check(X, "X"), check_finite=False) if normalize else _check(X, "X")
    n = A.shape[0]
    if not 1 <= k <= n - 1:
        msg = f"neighbour_table: k must be in [1, N-1] = [1, {n - 1}], got {k}"
        raise ValueError(msg)
    run = _Running(n, k)
    rows = int(max(1, min(block, n)))
    # column tiles of a row strip: each (rows × width) score tile is ≤ 64 MiB and every sgemm
    # reuses its packed column block across many rows (a thin strip against all later columns
    # repacked those columns per strip, which cost as much as the products)
    width = int(max(rows, _BLOCK_BYTES // (4 * rows)))
    buf = np.empty(min(n, rows) * min(n, width), dtype=np.float32)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        b = e - s
        for c0 in range(s, n, width):
            c1 = min(n, c0 + width)
            sc = np.matmul(A[s:e], A[c0:c1].T, out=buf[: b * (c1 - c0)].reshape(b, c1 - c0))
            skip = 0
            if c0 == s:
                sc[np.arange(b), np.arange(b)] = -np.inf  # self
                skip = b
            if skip:
                run.offer(sc, s, c0)  # rows [s, e) against columns [c0, c1), in column order
                if c1 > c0 + skip:  # later rows against columns [s, e)
                    run.offer(sc[:, skip:], c0 + skip, s, transposed=True)
            else:
                run.offer_pair(sc, s, c0)
        if progress is not None:
            progress(e, n)
    return run.result()
