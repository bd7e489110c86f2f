"""Batch self-organising map (numpy only) that lays images out on a grid, one image per cell.

Why batch and not online: a batch epoch is two BLAS matrix products (best-matching units, then
neighbourhood-smoothed means), so it is fast, deterministic for a seed and needs no learning
rate. Speed levers (see benchmarks/bench_som.py for the QE/TE they cost): while the
neighbourhood is wide the map is smooth, so early epochs train a coarser grid (coarse-to-fine,
weights upsampled bilinearly) on a random subsample of the data; only the last epochs with a
narrow neighbourhood see every sample at full resolution.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from typing import Any, Literal, NamedTuple

import numpy as np

from .layout import assign_unique, default_grid_shape, grid_refill, partition_cells, window

_BLOCK_ELEMENTS = 1 << 21  # floats per block of the sample × node score matrix (8 MiB, cache-sized)

#: ``train_nodes="auto"``: grids with more nodes than this train at a bounded working resolution.
AUTO_TRAIN_NODES = 4096
#: The bounded working grid has about N / this many nodes (but at least MIN_TRAIN_NODES).
SAMPLES_PER_TRAIN_NODE = 8
MIN_TRAIN_NODES = 64
#: Smallest neighbourhood (in working nodes) on a bounded working grid.
MIN_WORK_SIGMA = 1.0
#: Candidate display cells kept per row on the bounded path.
CANDIDATES = 16
#: Above this many rows the bounded path spreads BMUs with ``layout.partition_cells`` (O(N log N))
#: instead of the greedy candidate matching, whose crowd refills grow too slow at ~100k (4 min).
GREEDY_MAX_ROWS = 20000


class Progress(NamedTuple):
    """What ``fit_async`` reports after an epoch (a tuple, so ``cb(*p)`` also works)."""

    epoch: int  # 1-based epoch just finished
    n_epochs: int
    quantization_error: float  # mean distance to the best-matching unit (epoch's sample)
    cells: np.ndarray | None  # (N, 2) int32 unique cells every few epochs, else None


class _Cancelled(Exception):
    pass


class FitHandle:
    """Background training started by :meth:`SOM.fit_async`: cancel it, poll it or wait for it."""

    def __init__(self, som: SOM, thread_target: Callable[[FitHandle], None]) -> None:
        self.som = som
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=thread_target, args=(self,), name="vectorvision-som", daemon=True
        )

    def cancel(self) -> None:
        """Ask training to stop; it does so within one block of one epoch (milliseconds)."""
        self._stop.set()

    def cancelled(self) -> bool:
        """True if cancel() was called before training finished."""
        return isinstance(self._error, _Cancelled)

    def done(self) -> bool:
        """True once training finished, failed or was cancelled."""
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds; True if training is over."""
        self._thread.join(timeout)
        return self.done()

    join = wait

    def result(self, timeout: float | None = None) -> SOM:
        """The fitted SOM; re-raises a training error, CancelledError if cancelled."""
        if not self.wait(timeout):
            msg = f"SOM training still running after {timeout} s; call result() again later"
            raise TimeoutError(msg)
        if isinstance(self._error, _Cancelled):
            msg = "SOM training was cancelled; the SOM keeps its previous state"
            raise CancelledError(msg)
        if self._error is not None:
            raise self._error
        return self.som


class SOM:
    """Rectangular batch SOM with PCA initialisation and a Gaussian neighbourhood.

    rows, cols: grid size (use ``SOM.for_samples(n)`` for the default one-image-per-cell size).
    epochs: number of batch epochs; sigma decays exponentially from ``sigma0`` (default: half
    the longer side) to ``sigma_end``. ``coarse_to_fine`` trains early epochs on a coarser grid
    and a subsample of ``samples_per_node`` samples per node, as long as the coarse grid's sigma
    stays >= ``coarse_sigma`` (set ``coarse_to_fine=False`` for the textbook batch SOM).
    ``train_nodes`` ("auto" | int | None) bounds the grid the epochs train on (see
    :meth:`working_shape`); a bounded map is upsampled bilinearly and refined with
    ``refine_epochs`` batch epochs at display resolution on the rows' unique cells. On that path
    ``bmus`` is the best cell in a region search (≈ exact; see tests) and progress frames use
    working-grid BMUs spread by ``layout.partition_cells``.
    After ``fit``: ``weights`` (rows, cols, D) float32, ``bmus`` (N, 2) best-matching cells,
    ``cells`` (N, 2) int32 with every row in its own cell when rows*cols >= N (else ``bmus``).
    """

    def __init__(
        self,
        rows: int,
        cols: int,
        seed: int = 0,
        *,
        epochs: int = 10,
        sigma0: float | None = None,
        sigma_end: float = 1.0,
        coarse_to_fine: bool = True,
        samples_per_node: int = 16,
        coarse_sigma: float = 1.0,
        unique: bool = True,
        train_nodes: int | Literal["auto"] | None = "auto",
        refine_epochs: int = 1,
    ) -> None:
        if int(rows) < 1 or int(cols) < 1:
            msg = f"SOM: rows and cols must be >= 1, got {rows}×{cols}"
            raise ValueError(msg)
        if int(epochs) < 1:
            msg = f"SOM: epochs must be >= 1, got {epochs}"
            raise ValueError(msg)
        if sigma_end <= 0 or (sigma0 is not None and sigma0 <= 0):
            msg = f"SOM: sigma0 and sigma_end must be > 0, got {sigma0} and {sigma_end}"
            raise ValueError(msg)
        self.rows, self.cols, self.seed = int(rows), int(cols), int(seed)
        self.epochs = int(epochs)
        self.sigma0 = float(sigma0) if sigma0 is not None else max(rows, cols) / 2.0
        self.sigma_end = float(sigma_end)
        self.coarse_to_fine = bool(coarse_to_fine)
        self.samples_per_node = int(samples_per_node)
        self.coarse_sigma = float(coarse_sigma)
        self.unique = bool(unique)
        if train_nodes not in ("auto", None) and (
            not isinstance(train_nodes, int) or train_nodes < 4
        ):
            msg = f"SOM: train_nodes must be 'auto', None or an int >= 4, got {train_nodes!r}"
            raise ValueError(msg)
        self.train_nodes = train_nodes
        self.refine_epochs = int(refine_epochs)
        self.weights: np.ndarray | None = None
        self.bmus: np.ndarray | None = None
        self.cells: np.ndarray | None = None
        self.history: list[float] = []  # quantization error per epoch

    @classmethod
    def for_samples(cls, n: int, seed: int = 0, **kwargs: Any) -> SOM:
        """A SOM sized by :func:`layout.default_grid_shape` (≈1.5·√n per side)."""
        return cls(*default_grid_shape(n), seed=seed, **kwargs)

    def __repr__(self) -> str:
        state = "fitted" if self.weights is not None else "not fitted"
        return f"SOM({self.rows}×{self.cols}, epochs={self.epochs}, seed={self.seed}, {state})"

    # ------------------------------------------------------------------ training
    def fit(self, X: np.ndarray) -> SOM:
        """Train on X (N, D) and compute ``cells``; returns self."""
        for _ in self._train(_as_data(X), None, None, 1, 0):
            pass
        return self

    def fit_async(
        self,
        X: np.ndarray,
        on_progress: Callable[..., Any] | None = None,
        every: int = 1,
        cells_every: int = 2,
    ) -> FitHandle:
        """Train in a daemon thread; returns a :class:`FitHandle` (cancel/done/wait/result).

        ``on_progress`` runs in the training thread after every ``every`` epochs with a
        :class:`Progress` (or unpacked as ``cb(epoch, n_epochs, qe, cells)`` if it takes four
        arguments); ``cells`` is filled every ``cells_every`` epochs and at the end. numpy's
        matrix products release the GIL, so a Jupyter kernel stays responsive meanwhile.
        """
        data = _as_data(X)
        callback = _adapt_callback(on_progress)

        def run(handle: FitHandle) -> None:
            try:
                for _ in self._train(data, handle._stop, callback, every, cells_every):
                    pass
            except BaseException as exc:  # handed to result()
                handle._error = exc

        handle = FitHandle(self, run)
        handle._thread.start()
        return handle

    def working_shape(self, n: int) -> tuple[int, int]:
        """The grid the epochs train on for ``n`` samples: the display grid, or a bounded one.

        Why: a pass over a display grid of 2.25·N cells costs N × 2.25·N products (a minute per
        pass at 100k), while the map's shape is decided by the wide early neighbourhoods anyway.
        With ``train_nodes="auto"`` grids above :data:`AUTO_TRAIN_NODES` nodes train on at most
        that many nodes and about N / :data:`SAMPLES_PER_TRAIN_NODE`; an int sets the cap for any
        grid; None trains at full resolution.
        """
        nodes = self.rows * self.cols
        if self.train_nodes is None or (self.train_nodes == "auto" and nodes <= AUTO_TRAIN_NODES):
            return self.rows, self.cols
        cap = AUTO_TRAIN_NODES if self.train_nodes == "auto" else int(self.train_nodes)
        target = min(cap, max(MIN_TRAIN_NODES, -(-n // SAMPLES_PER_TRAIN_NODE)))
        if nodes <= target:
            return self.rows, self.cols
        s = math.sqrt(target / nodes)
        return (
            min(self.rows, max(2, math.floor(self.rows * s))),
            min(self.cols, max(2, math.floor(self.cols * s))),
        )

    def _schedule(self, work: tuple[int, int]) -> list[tuple[float, int]]:
        """(sigma in display cells, coarsening factor of the working grid) per epoch."""
        wr, wc = work
        scale = min(
            (wr - 1) / (self.rows - 1) if self.rows > 1 else 1.0,
            (wc - 1) / (self.cols - 1) if self.cols > 1 else 1.0,
        )
        out = []
        for e in range(self.epochs):
            t = e / (self.epochs - 1) if self.epochs > 1 else 1.0
            sigma = self.sigma0 * (self.sigma_end / self.sigma0) ** t
            f = 1
            while (
                self.coarse_to_fine
                and sigma * scale / (2 * f) >= self.coarse_sigma
                and min(wr, wc) / (2 * f) >= 4
            ):
                f *= 2
            out.append((sigma, f))
        return out

    def _train(
        self,
        X: np.ndarray,
        stop: threading.Event | None,
        callback: Callable[[Progress], Any] | None,
        every: int,
        cells_every: int,
    ) -> Iterator[int]:
        rng = np.random.default_rng(self.seed)
        n = X.shape[0]
        x2 = np.einsum("ij,ij->i", X, X)
        work = self.working_shape(n)
        bounded = work != (self.rows, self.cols)
        schedule = self._schedule(work)
        shape = _level_shape(*work, schedule[0][1])
        W = _pca_init(X, *shape, rng)
        history: list[float] = []
        for e, (sigma, f) in enumerate(schedule):
            new_shape = _level_shape(*work, f)
            if new_shape != shape:
                W = _resample(W, *new_shape)
                shape = new_shape
            r, c = shape
            n_sample = n if f == 1 else min(n, max(2000, self.samples_per_node * r * c))
            rows_idx = None if n_sample == n else np.sort(rng.choice(n, n_sample, replace=False))
            Xs = X if rows_idx is None else X[rows_idx]
            xs2 = x2 if rows_idx is None else x2[rows_idx]
            bmu, d2 = _best(Xs, xs2, W.reshape(r * c, -1), stop)
            history.append(float(np.sqrt(d2).mean()))
            sr = sigma * (r - 1) / (self.rows - 1) if self.rows > 1 else sigma
            sc = sigma * (c - 1) / (self.cols - 1) if self.cols > 1 else sigma
            if bounded:  # below ~half a node the working map turns into k-means and tears
                sr, sc = max(sr, MIN_WORK_SIGMA), max(sc, MIN_WORK_SIGMA)
            W = _batch_update(Xs, bmu, W, sr, sc)
            last = e == self.epochs - 1
            if callback is not None and ((e + 1) % max(1, every) == 0 or last):
                cells = None
                if not last and cells_every and (e + 1) % cells_every == 0:
                    if bounded:
                        cells = self._preview_cells(X, x2, W, stop)
                    else:
                        full = W if f == 1 else _resample(W, self.rows, self.cols)
                        cells = self._cells(X, x2, full, stop)[1]
                if not last:
                    callback(Progress(e + 1, self.epochs, history[-1], cells))
            yield e
        if bounded:
            W, bmus, cells = self._finish_bounded(X, x2, W, work, stop)
        else:
            if shape != (self.rows, self.cols):
                W = _resample(W, self.rows, self.cols)
            bmus, cells = self._cells(X, x2, W, stop)
        self.weights, self.bmus, self.cells, self.history = W, bmus, cells, history
        if callback is not None:
            callback(Progress(self.epochs, self.epochs, history[-1], cells))

    def _preview_cells(
        self, X: np.ndarray, x2: np.ndarray, W: np.ndarray, stop: threading.Event | None
    ) -> np.ndarray:
        """Cheap unique cells for a progress frame: working-grid BMUs scaled onto the display
        grid and spread by :func:`layout.partition_cells` (no display-resolution search)."""
        r, c, _ = W.shape
        idx, _ = _best(X, x2, W.reshape(r * c, -1), stop)
        br, bc = np.divmod(idx, c)
        pos = np.stack(
            [br * ((self.rows - 1) / max(r - 1, 1)), bc * ((self.cols - 1) / max(c - 1, 1))], 1
        )
        if not self.unique or X.shape[0] > self.rows * self.cols:
            return np.rint(pos).astype(np.int32)
        return partition_cells(pos, self.rows, self.cols)

    def _finish_bounded(
        self,
        X: np.ndarray,
        x2: np.ndarray,
        W: np.ndarray,
        work: tuple[int, int],
        stop: threading.Event | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Upsample the working map to the display grid, then refine it there.

        Each refinement epoch assigns unique cells from each row's candidate cells (the display
        cells interpolated from its working BMU's 3×3 neighbourhood, scored in one small matrix
        product per working node) and runs a batch update with ``sigma_end`` on those cells, so
        the weights follow where the rows actually sit. Returns (weights, bmus, cells).
        """
        if W.shape[:2] != work:
            W = _resample(W, *work)
        work_bmu, _ = _best(X, x2, W.reshape(work[0] * work[1], -1), stop)
        W = _resample(W, self.rows, self.cols)
        cand, cost = _region_candidates(X, x2, W, work_bmu, work, stop)
        for _ in range(max(0, self.refine_epochs)):
            ids = self._assign_candidates(X, x2, W, cand, cost)
            W = _batch_update(X, ids, W, self.sigma_end, self.sigma_end)
            cand, cost = _region_candidates(X, x2, W, work_bmu, work, stop)
        ids = self._assign_candidates(X, x2, W, cand, cost)
        to_cells = lambda i: np.stack(np.divmod(i, self.cols), axis=1).astype(np.int32)  # noqa: E731
        return W, to_cells(cand[:, 0]), to_cells(ids)

    def _assign_candidates(
        self, X: np.ndarray, x2: np.ndarray, W: np.ndarray, cand: np.ndarray, cost: np.ndarray
    ) -> np.ndarray:
        """Unique cell ids from (N, c) candidates (BMU ids when the grid is too small)."""
        R, C = self.rows, self.cols
        if not self.unique or X.shape[0] > R * C:
            return cand[:, 0]
        centres = np.stack(np.divmod(cand[:, 0], C), axis=1)
        if X.shape[0] > GREEDY_MAX_ROWS:
            cells = partition_cells(centres.astype(np.float64), R, C).astype(np.int64)
            return cells[:, 0] * C + cells[:, 1]

        # Rows whose candidates are all taken sit in a crowd; their map is smooth there, so the
        # nearest free cells on the grid are a good, D-free proxy for the nearest in feature space.
        def cost_fn(items: np.ndarray, cells: np.ndarray) -> np.ndarray:
            r, c = np.divmod(np.maximum(cells, 0), C)
            return (r - centres[items, :1]) ** 2 + (c - centres[items, 1:]) ** 2.0

        return assign_unique(cand, cost, R * C, grid_refill(centres, cost_fn, R, C))

    def _cells(
        self, X: np.ndarray, x2: np.ndarray, W: np.ndarray, stop: threading.Event | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(bmus, unique cells) for weights W (rows, cols, D)."""
        R, C = self.rows, self.cols
        flat = W.reshape(R * C, -1)
        n = X.shape[0]
        # candidates: the 5×5 window around the BMU, scored from the same score block
        bmu, _d2, win, wcost = _best(X, x2, flat, stop, window_of=(R, C, 2))
        bmus = np.stack(np.divmod(bmu, C), axis=1).astype(np.int32)
        if not self.unique or n > R * C:
            return bmus, bmus
        half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)

        def cost_fn(items: np.ndarray, cells: np.ndarray) -> np.ndarray:
            scores = X[items] @ flat.T - half_w2
            return x2[items, None] - 2.0 * np.take_along_axis(scores, np.maximum(cells, 0), 1)

        ids = assign_unique(win, wcost, R * C, grid_refill(bmus.astype(np.int64), cost_fn, R, C))
        return bmus, np.stack(np.divmod(ids, C), axis=1).astype(np.int32)

    # ------------------------------------------------------------------ quality
    def _require(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.weights is None:
            msg = "SOM is not fitted yet; call som.fit(X) first"
            raise RuntimeError(msg)
        data = _as_data(X)
        if data.shape[1] != self.weights.shape[2]:
            dims = self.weights.shape[2]
            msg = f"SOM: X has {data.shape[1]} columns but the map was trained on {dims}"
            raise ValueError(msg)
        return data, self.weights.reshape(self.rows * self.cols, -1)

    def bmu(self, X: np.ndarray) -> np.ndarray:
        """(N, 2) int32 best-matching cell of each row of X (not unique)."""
        data, flat = self._require(X)
        idx, _ = _best(data, np.einsum("ij,ij->i", data, data), flat, None)
        return np.stack(np.divmod(idx, self.cols), axis=1).astype(np.int32)

    def quantization_error(self, X: np.ndarray, cells: np.ndarray | None = None) -> float:
        """Mean Euclidean distance from each row to its BMU weight (or to ``cells``' weights)."""
        data, flat = self._require(X)
        if cells is not None:
            ids = np.asarray(cells)[:, 0].astype(np.int64) * self.cols + np.asarray(cells)[:, 1]
            return float(np.linalg.norm(data - flat[ids], axis=1).mean())
        _, d2 = _best(data, np.einsum("ij,ij->i", data, data), flat, None)
        return float(np.sqrt(d2).mean())

    def topographic_error(self, X: np.ndarray) -> float:
        """Share of rows whose best and second-best units are not 8-neighbours on the grid."""
        data, flat = self._require(X)
        half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
        bad = 0
        step = max(1, _BLOCK_ELEMENTS // flat.shape[0])
        for s in range(0, data.shape[0], step):
            g = data[s : s + step] @ flat.T
            g -= half_w2
            first = g.argmax(axis=1)
            g[np.arange(g.shape[0]), first] = -np.inf
            second = g.argmax(axis=1)
            r1, c1 = np.divmod(first, self.cols)
            r2, c2 = np.divmod(second, self.cols)
            bad += int((np.maximum(abs(r1 - r2), abs(c1 - c2)) > 1).sum())
        return bad / data.shape[0]


# ---------------------------------------------------------------------- kernels
def _as_data(X: np.ndarray) -> np.ndarray:
    data = np.ascontiguousarray(X, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 1:
        msg = f"SOM: X must be a non-empty 2-D array (N, D), got shape {data.shape}"
        raise ValueError(msg)
    if not np.isfinite(data).all():
        msg = "SOM: X contains NaN or infinite values; drop or impute those rows first"
        raise ValueError(msg)
    return data


def _adapt_callback(cb: Callable[..., Any] | None) -> Callable[[Progress], Any] | None:
    """Accept cb(progress) and cb(epoch, n_epochs, qe, cells) alike."""
    if cb is None:
        return None
    n_args = 1
    with contextlib.suppress(TypeError, ValueError):
        params = inspect.signature(cb).parameters.values()
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            n_args = 4
        else:
            n_args = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    if n_args >= 4:
        return lambda p: cb(*p)
    return cb


def _level_shape(rows: int, cols: int, f: int) -> tuple[int, int]:
    return max(1, -(-rows // f)), max(1, -(-cols // f))


def _pca_init(X: np.ndarray, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
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
    W = mean + axes[0][:, None, None] * pcs[0] + axes[1][None, :, None] * pcs[1]
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


def _resample(W: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear resampling of a weight grid (r, c, D) to (rows, cols, D)."""
    r, c, d = W.shape
    out = (_interp_matrix(rows, r) @ W.reshape(r, c * d)).reshape(rows, c, d)
    return np.matmul(_interp_matrix(cols, c), out)


def _gauss(n: int, sigma: float) -> np.ndarray:
    d = np.arange(n, dtype=np.float32)
    return np.exp(-((d[:, None] - d[None, :]) ** 2) / (2.0 * sigma * sigma)).astype(np.float32)


def _best(
    X: np.ndarray,
    x2: np.ndarray,
    flat: np.ndarray,
    stop: threading.Event | None,
    window_of: tuple[int, int, int] | None = None,
) -> Any:
    """Best-matching unit and squared distance per row, in cache-sized blocks of BLAS products.

    argmax(x·w − |w|²/2) == argmin |x − w|². With ``window_of=(rows, cols, r)`` also returns the
    (2r+1)² cells around each BMU and their squared distances, read from the same score block.
    """
    n, m = X.shape[0], flat.shape[0]
    half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
    WT = np.ascontiguousarray(flat.T)
    idx = np.empty(n, dtype=np.int64)
    best = np.empty(n, dtype=np.float32)
    if window_of is not None:
        R, C, rad = window_of
        win = np.empty((n, (2 * rad + 1) ** 2), dtype=np.int64)
        wcost = np.empty(win.shape, dtype=np.float64)
    step = max(1, _BLOCK_ELEMENTS // m)
    buf = np.empty((step, m), dtype=np.float32)
    for s in range(0, n, step):
        if stop is not None and stop.is_set():
            raise _Cancelled
        xb = X[s : s + step]
        g = np.matmul(xb, WT, out=buf[: xb.shape[0]])
        g -= half_w2
        i = g.argmax(axis=1)
        rows = np.arange(xb.shape[0])
        idx[s : s + step] = i
        best[s : s + step] = g[rows, i]
        if window_of is not None:
            ids, _, _ = window(np.stack(np.divmod(i, C), axis=1), R, C, rad)
            sc = np.take_along_axis(g, np.maximum(ids, 0), axis=1)
            win[s : s + step] = ids
            wcost[s : s + step] = x2[s : s + step, None] - 2.0 * sc.astype(np.float64)
    d2 = np.maximum(x2 - 2.0 * best, 0.0)
    if window_of is not None:
        return idx, d2, win, wcost
    return idx, d2


def _region_candidates(
    X: np.ndarray,
    x2: np.ndarray,
    W: np.ndarray,
    work_bmu: np.ndarray,
    work: tuple[int, int],
    stop: threading.Event | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, CANDIDATES) cheapest display cells per row and their squared distances, sorted.

    A row's search region is the block of display cells interpolated from its working BMU's
    3×3 neighbourhood; rows sharing a working BMU share it, so each region is one small matrix
    product instead of an N × rows·cols one. Unused slots hold -1 / inf.
    """
    R, C, D = W.shape
    wr, wc = work
    flat = W.reshape(R * C, D)
    half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
    fr = (R - 1) / (wr - 1) if wr > 1 else float(R)
    fc = (C - 1) / (wc - 1) if wc > 1 else float(C)
    n = X.shape[0]
    cand = np.full((n, CANDIDATES), -1, dtype=np.int64)
    cost = np.full((n, CANDIDATES), np.inf, dtype=np.float64)
    order = np.argsort(work_bmu, kind="stable")
    nodes, starts = np.unique(work_bmu[order], return_index=True)
    ends = np.append(starts[1:], n)
    for node, s0, s1 in zip(nodes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if stop is not None and stop.is_set():
            raise _Cancelled
        i, j = divmod(node, wc)
        r0, r1 = max(0, math.ceil((i - 1) * fr)), min(R - 1, math.floor((i + 1) * fr))
        c0, c1 = max(0, math.ceil((j - 1) * fc)), min(C - 1, math.floor((j + 1) * fc))
        cells = (np.arange(r0, r1 + 1)[:, None] * C + np.arange(c0, c1 + 1)[None, :]).ravel()
        items = order[s0:s1]
        g = X[items] @ flat[cells].T
        g -= half_w2[cells]
        k = min(CANDIDATES, cells.size)
        top = np.argpartition(-g, k - 1, axis=1)[:, :k] if k < cells.size else None
        if top is None:
            top = np.broadcast_to(np.arange(k), (items.size, k))
        sc = np.take_along_axis(g, top, axis=1)
        srt = np.argsort(-sc, axis=1, kind="stable")
        cand[items, :k] = cells[np.take_along_axis(top, srt, axis=1)]
        cost[items, :k] = x2[items, None] - 2.0 * np.take_along_axis(sc, srt, 1).astype(np.float64)
    return cand, cost


def _batch_update(
    X: np.ndarray, bmu: np.ndarray, W: np.ndarray, sr: float, sc: float
) -> np.ndarray:
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
    out = W.copy()
    out[ok] = num[ok] / den[ok][:, None]
    return out
