"""Batch-SOM training kernels: PCA initialisation, best-matching units, batch update, resampling.

Why batch and not online: a batch epoch is two BLAS matrix products (best-matching units, then
neighbourhood-smoothed means), so it is fast, deterministic for a seed and needs no learning
rate. The epoch loop and its schedule live in :mod:`map`; placing rows on unique cells of a
trained map lives in :mod:`cells`.
"""

from __future__ import annotations

import threading
from typing import overload

import numpy as np

from vectorvision_widget.som.layout import window

BLOCK_ELEMENTS = 1 << 21  # floats per block of the sample × node score matrix (8 MiB, cache-sized)


class Cancelled(Exception):
    """Raised inside training when its stop event is set (FitHandle.cancel)."""


def as_data(X: np.ndarray, *, copy: bool = False) -> np.ndarray:
    """X as a C-contiguous float32 (N, D) array, validated; ``copy=True``: never X's memory."""
    data = np.ascontiguousarray(X, dtype=np.float32)
    if copy and np.shares_memory(data, X):
        data = data.copy()
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 1:
        msg = f"SOM: X must be a non-empty 2-D array (N, D), got shape {data.shape}"
        raise ValueError(msg)
    if not np.isfinite(data).all():
        msg = "SOM: X contains NaN or infinite values; drop or impute those rows first"
        raise ValueError(msg)
    return data


def level_shape(rows: int, cols: int, f: int) -> tuple[int, int]:
    """The grid ``rows``×``cols`` coarsened by a factor ``f`` (ceil division, at least 1×1)."""
    return max(1, -(-rows // f)), max(1, -(-cols // f))


def pca_init(X: np.ndarray, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Weights on the plane of the two main principal components, ±1 s.d. across the grid."""
    sample = X if X.shape[0] <= 20000 else X[np.sort(rng.choice(X.shape[0], 20000, replace=False))]
    mean = sample.mean(axis=0, dtype=np.float64)
    centred = sample - mean.astype(np.float32)
    cov = (centred.T @ centred).astype(np.float64) / max(1, sample.shape[0] - 1)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.clip(vals[order], 0, None), vecs[:, order]
    # fix eigenvector signs so the map's orientation is deterministic
    vecs *= np.where(vecs[np.abs(vecs).argmax(axis=0), range(vecs.shape[1])] < 0, -1.0, 1.0)
    long_axis, short_axis = (0, 1) if rows >= cols else (1, 0)
    axes = [np.zeros(rows), np.zeros(cols)]
    for axis, pc in ((long_axis, 0), (short_axis, 1)):
        size = (rows, cols)[axis]
        if pc < vecs.shape[1] and size > 1:
            axes[axis] = np.linspace(-1.0, 1.0, size) * np.sqrt(vals[pc])
    v1 = vecs[:, 0]
    v2 = vecs[:, 1] if vecs.shape[1] > 1 else np.zeros_like(v1)
    pcs = (v1, v2) if long_axis == 0 else (v2, v1)
    W: np.ndarray = mean + axes[0][:, None, None] * pcs[0] + axes[1][None, :, None] * pcs[1]
    return W.astype(np.float32)


def _interp_matrix(n_new: int, n_old: int) -> np.ndarray:
    """(n_new, n_old) linear-interpolation weights between evenly spaced positions."""
    A = np.zeros((n_new, n_old), dtype=np.float32)
    if n_old == 1:
        A[:, 0] = 1.0
        return A
    t = np.linspace(0.0, n_old - 1, n_new)
    lo = np.minimum(np.floor(t).astype(int), n_old - 2)
    frac = (t - lo).astype(np.float32)
    A[np.arange(n_new), lo] = 1.0 - frac
    A[np.arange(n_new), lo + 1] += frac
    return A


def resample(W: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear resampling of a weight grid (r, c, D) to (rows, cols, D)."""
    r, c, d = W.shape
    out = (_interp_matrix(rows, r) @ W.reshape(r, c * d)).reshape(rows, c, d)
    resampled: np.ndarray = np.matmul(_interp_matrix(cols, c), out)
    return resampled


def _gauss(n: int, sigma: float) -> np.ndarray:
    d = np.arange(n, dtype=np.float32)
    kernel: np.ndarray = np.exp(-((d[:, None] - d[None, :]) ** 2) / (2.0 * sigma * sigma))
    return kernel.astype(np.float32)


@overload
def best(
    X: np.ndarray,
    x2: np.ndarray,
    flat: np.ndarray,
    stop: threading.Event | None,
    window_of: None = None,
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def best(
    X: np.ndarray,
    x2: np.ndarray,
    flat: np.ndarray,
    stop: threading.Event | None,
    window_of: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...


def best(
    X: np.ndarray,
    x2: np.ndarray,
    flat: np.ndarray,
    stop: threading.Event | None,
    window_of: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best-matching unit and squared distance per row, in cache-sized blocks of BLAS products.

    argmax(x·w − |w|²/2) == argmin |x − w|². With ``window_of=(rows, cols, r)`` also returns the
    (2r+1)² cells around each BMU and their squared distances, read from the same score block.
    Raises :class:`Cancelled` between blocks once ``stop`` is set.
    """
    n, m = X.shape[0], flat.shape[0]
    half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
    WT = np.ascontiguousarray(flat.T)
    idx = np.empty(n, dtype=np.int64)
    top = np.empty(n, dtype=np.float32)
    if window_of is not None:
        R, C, rad = window_of
        win = np.empty((n, (2 * rad + 1) ** 2), dtype=np.int64)
        wcost = np.empty(win.shape, dtype=np.float64)
    step = max(1, BLOCK_ELEMENTS // m)
    buf = np.empty((step, m), dtype=np.float32)
    for s in range(0, n, step):
        if stop is not None and stop.is_set():
            raise Cancelled
        xb = X[s : s + step]
        g = np.matmul(xb, WT, out=buf[: xb.shape[0]])
        g -= half_w2
        i = g.argmax(axis=1)
        rows = np.arange(xb.shape[0])
        idx[s : s + step] = i
        top[s : s + step] = g[rows, i]
        if window_of is not None:
            ids, _, _ = window(np.stack(np.divmod(i, C), axis=1), R, C, rad)
            sc = np.take_along_axis(g, np.maximum(ids, 0), axis=1)
            win[s : s + step] = ids
            wcost[s : s + step] = x2[s : s + step, None] - 2.0 * sc.astype(np.float64)
    d2 = np.maximum(x2 - 2.0 * top, 0.0)
    if window_of is not None:
        return idx, d2, win, wcost
    return idx, d2


def batch_update(X: np.ndarray, bmu: np.ndarray, W: np.ndarray, sr: float, sc: float) -> np.ndarray:
    """New weights: Gaussian-smoothed (separable, rows then cols) per-node means."""
    r, c, d = W.shape
    m = r * c
    counts = np.bincount(bmu, minlength=m).astype(np.float32)
    order = np.argsort(bmu, kind="stable")
    hit = np.flatnonzero(counts)
    starts = np.concatenate([[0], np.cumsum(counts[hit].astype(np.int64))[:-1]])
    sums = np.zeros((m, d), dtype=np.float32)
    sums[hit] = np.add.reduceat(X[order], starts, axis=0)
    Kr, Kc = _gauss(r, sr), _gauss(c, sc)
    num = (Kr @ sums.reshape(r, c * d)).reshape(r, c, d)
    num = np.matmul(Kc, num)
    den = Kr @ counts.reshape(r, c) @ Kc.T
    ok = den > 1e-6 * max(float(den.max()), 1e-30)
    out: np.ndarray = W.copy()
    out[ok] = num[ok] / den[ok][:, None]
    return out
