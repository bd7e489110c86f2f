"""Batch self-organising map (numpy only) that lays images out on a grid, one image per cell.

This module holds the public :class:`SOM` (parameters, the epoch schedule and loop, quality
metrics) and :meth:`SOM.fit_async`'s handle. The numeric kernels (PCA init, best-matching
units, batch update) are in :mod:`training`; giving every row its own cell is :mod:`cells`.
Speed levers (see benchmarks/bench_som.py for the QE/TE they cost): while the neighbourhood is
wide the map is smooth, so early epochs train a coarser grid (coarse-to-fine, weights upsampled
bilinearly) on a random subsample of the data; only the last epochs with a narrow neighbourhood
see every sample at full resolution; big display grids train at a bounded working resolution.
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

from vectorvision_widget.som.cells import bmu_cells, finish_bounded, preview_cells
from vectorvision_widget.som.layout import default_grid_shape
from vectorvision_widget.som.training import (
    BLOCK_ELEMENTS,
    Cancelled,
    as_data,
    batch_update,
    best,
    level_shape,
    pca_init,
    resample,
)

#: ``train_nodes="auto"``: grids with more nodes than this train at a bounded working resolution.
AUTO_TRAIN_NODES = 4096
#: The bounded working grid has about N / this many nodes (but at least MIN_TRAIN_NODES).
SAMPLES_PER_TRAIN_NODE = 8
MIN_TRAIN_NODES = 64
#: Bounded path: epochs see at most this many rows per working node (a random subsample), so
#: training costs O(nodes) rather than O(N) per epoch; changes nothing below ~260k rows.
WORK_SAMPLES_PER_NODE = 64
#: Smallest neighbourhood (in working nodes) on a bounded working grid.
MIN_WORK_SIGMA = 1.0
#: Default schedule: sigma from DEFAULT_SIGMA0_SHARE × the longer side down to DEFAULT_SIGMA_END
#: cells over DEFAULT_EPOCHS epochs (chosen on tuning data, checked on held-out data: see
#: ``benchmarks/bench_som.py --tune`` and ``--heldout``).
DEFAULT_EPOCHS = 12
DEFAULT_SIGMA0_SHARE = 1 / 8
DEFAULT_SIGMA_END = 0.65
#: Smallest neighbourhood of the display-resolution refinement on the bounded path: there each
#: node holds about one row, so a narrower one turns the update into k-means and tears the map.
MIN_REFINE_SIGMA = 1.0


_ASYNC_LOCK = threading.Lock()  # one check-and-start of fit_async at a time (all SOMs: rare)


class Progress(NamedTuple):
    """What ``fit_async`` reports after an epoch (a tuple, so ``cb(*p)`` also works)."""

    epoch: int  # 1-based epoch just finished
    n_epochs: int
    quantization_error: float  # mean distance to the best-matching unit (epoch's sample)
    cells: np.ndarray | None  # (N, 2) int32 unique cells every few epochs, else None


class FitHandle:
    """Background training started by :meth:`SOM.fit_async`: cancel it, poll it or wait for it.

    One thread runs ``train(stop)`` (:meth:`SOM.fit` with this handle's stop event); its
    outcome, the SOM or the exception, is kept for :meth:`result`."""

    def __init__(self, som: SOM, train: Callable[[threading.Event], SOM]) -> None:
        self.som = som
        self._stop = threading.Event()
        self._error: BaseException | None = None

        def run() -> None:
            try:
                train(self._stop)
            except BaseException as exc:  # handed to result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="vectorvision-som", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask training to stop; it does so within one block of one epoch (milliseconds)."""
        self._stop.set()

    def cancelled(self) -> bool:
        """True if cancel() was called before training finished."""
        return isinstance(self._error, CancelledError)

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
        if self._error is not None:
            raise self._error
        return self.som


class SOM:
    """Rectangular batch SOM with PCA initialisation and a Gaussian neighbourhood.

    rows, cols: grid size (use ``SOM.for_samples(n)`` for the default one-image-per-cell size).
    epochs: number of batch epochs; sigma (the neighbourhood's standard deviation, in cells)
    decays exponentially from ``sigma0`` (default: an eighth of the longer side, at least
    ``sigma_end``) to ``sigma_end``. The defaults (12 epochs, side/8 → 0.65) were tuned against
    xpysom's tuned run on held-out data (``benchmarks/bench_som.py --tune`` / ``--heldout``):
    wider starts (the old side/2) or ends (1.0) smooth the map and cost QE. ``coarse_to_fine``
    trains early epochs on a coarser grid and a subsample of ``samples_per_node`` samples per
    node, as long as the coarse grid's sigma stays >= ``coarse_sigma`` (set
    ``coarse_to_fine=False`` for the textbook batch SOM).
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
        epochs: int = DEFAULT_EPOCHS,
        sigma0: float | None = None,
        sigma_end: float = DEFAULT_SIGMA_END,
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
        default0 = max(max(int(rows), int(cols)) * DEFAULT_SIGMA0_SHARE, float(sigma_end))
        self.sigma0 = float(sigma0) if sigma0 is not None else default0
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
        self._handle: FitHandle | None = None  # the running fit_async, if any

    @classmethod
    def for_samples(cls, n: int, seed: int = 0, *, fill: float | None = None, **kwargs: Any) -> SOM:
        """A SOM sized by :func:`layout.default_grid_shape` (``fill``: share of cells with an
        image, default ``layout.DEFAULT_FILL``), so every one of ``n`` rows gets its own cell."""
        return cls(*default_grid_shape(n, fill), seed=seed, **kwargs)

    def __repr__(self) -> str:
        state = "fitted" if self.weights is not None else "not fitted"
        return f"SOM({self.rows}×{self.cols}, epochs={self.epochs}, seed={self.seed}, {state})"

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: np.ndarray,
        *,
        on_progress: Callable[..., Any] | None = None,
        stop: threading.Event | None = None,
        every: int = 1,
        cells_every: int | None = None,
    ) -> SOM:
        """Train on X (N, D) on this thread and compute ``cells``; returns self.

        ``on_progress`` runs after every ``every`` epochs with a :class:`Progress` (or unpacked
        as ``cb(epoch, n_epochs, qe, cells)`` if it takes four arguments); ``cells`` is filled
        every ``cells_every`` epochs and at the end (default 2; a third of the epochs above
        ~260k rows, where each frame is a full pass over the rows). Setting ``stop`` (from any
        thread) ends training within one block of one epoch (milliseconds) with
        ``CancelledError``; the SOM then keeps its previous state.
        """
        callback = _adapt_callback(on_progress)
        try:
            for _ in self._train(as_data(X), stop, callback, every, cells_every):
                pass
        except Cancelled:
            msg = "SOM training was cancelled; the SOM keeps its previous state"
            raise CancelledError(msg) from None
        return self

    def fit_async(
        self,
        X: np.ndarray,
        on_progress: Callable[..., Any] | None = None,
        every: int = 1,
        cells_every: int | None = None,
    ) -> FitHandle:
        """:meth:`fit` in a daemon thread; returns a :class:`FitHandle` (cancel/done/wait/result).

        ``on_progress`` runs in the training thread (see :meth:`fit`). numpy's matrix products
        release the GIL, so a Jupyter kernel stays responsive meanwhile. Training uses a private
        copy of X (made before this returns), so the caller may change or shrink its array
        meanwhile (e.g. ``Library.remove``) without tearing the map.

        One training at a time per SOM: a second ``fit_async`` while one runs raises
        RuntimeError (both would write the same weights, and which one ends last would decide
        the map); cancel and wait for the first, or train a second ``SOM``.
        """
        data = as_data(X, copy=True)
        with _ASYNC_LOCK:
            running = self._handle
            if running is not None and not running.done():
                msg = (
                    "SOM.fit_async: this SOM is already training (fit_async); "
                    "handle.cancel() and handle.wait() first, or use a second SOM"
                )
                raise RuntimeError(msg)
            self._handle = FitHandle(
                self,
                lambda stop: self.fit(
                    data, on_progress=on_progress, stop=stop, every=every, cells_every=cells_every
                ),
            )
            return self._handle

    def working_shape(self, n: int) -> tuple[int, int]:
        """The grid the epochs train on for ``n`` samples: the display grid, or a bounded one.

        Why: a pass over a display grid of N / fill cells costs N² / fill products (tens of
        seconds per pass at 100k), while the map's shape is decided by the wide early
        neighbourhoods anyway.
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
        cells_every: int | None,
    ) -> Iterator[int]:
        rng = np.random.default_rng(self.seed)
        n = X.shape[0]
        x2 = np.einsum("ij,ij->i", X, X)
        display = (self.rows, self.cols)
        work = self.working_shape(n)
        bounded = work != display
        schedule = self._schedule(work)
        if cells_every is None:
            big = bounded and n > WORK_SAMPLES_PER_NODE * work[0] * work[1]
            cells_every = max(2, self.epochs // 3) if big else 2
        shape = level_shape(*work, schedule[0][1])
        W = pca_init(X, *shape, rng)
        history: list[float] = []
        for e, (sigma, f) in enumerate(schedule):
            new_shape = level_shape(*work, f)
            if new_shape != shape:
                W = resample(W, *new_shape)
                shape = new_shape
            r, c = shape
            n_sample = n if f == 1 else min(n, max(2000, self.samples_per_node * r * c))
            if bounded:  # node means need no more rows; finish_bounded still sees every row
                n_sample = min(n_sample, max(2000, WORK_SAMPLES_PER_NODE * r * c))
            rows_idx = None if n_sample == n else np.sort(rng.choice(n, n_sample, replace=False))
            Xs = X if rows_idx is None else X[rows_idx]
            xs2 = x2 if rows_idx is None else x2[rows_idx]
            bmu, d2 = best(Xs, xs2, W.reshape(r * c, -1), stop)
            history.append(float(np.sqrt(d2).mean()))
            sr = sigma * (r - 1) / (self.rows - 1) if self.rows > 1 else sigma
            sc = sigma * (c - 1) / (self.cols - 1) if self.cols > 1 else sigma
            if bounded:  # below ~half a node the working map turns into k-means and tears
                sr, sc = max(sr, MIN_WORK_SIGMA), max(sc, MIN_WORK_SIGMA)
            W = batch_update(Xs, bmu, W, sr, sc)
            last = e == self.epochs - 1
            if callback is not None and ((e + 1) % max(1, every) == 0 or last):
                cells = None
                if not last and cells_every and (e + 1) % cells_every == 0:
                    if bounded:
                        cells = preview_cells(X, x2, W, display, self.unique, stop)
                    else:
                        full = W if f == 1 else resample(W, self.rows, self.cols)
                        cells = bmu_cells(X, x2, full, self.unique, stop)[1]
                if not last:
                    callback(Progress(e + 1, self.epochs, history[-1], cells))
            yield e
        if bounded:
            W, bmus, cells = finish_bounded(
                X,
                x2,
                W,
                work,
                display,
                sigma=max(self.sigma_end, MIN_REFINE_SIGMA),
                refine_epochs=self.refine_epochs,
                unique=self.unique,
                stop=stop,
            )
        else:
            if shape != (self.rows, self.cols):
                W = resample(W, self.rows, self.cols)
            bmus, cells = bmu_cells(X, x2, W, self.unique, stop)
        self.weights, self.bmus, self.cells, self.history = W, bmus, cells, history
        if callback is not None:
            callback(Progress(self.epochs, self.epochs, history[-1], cells))

    # ------------------------------------------------------------------ quality
    def _require(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.weights is None:
            msg = "SOM is not fitted yet; call som.fit(X) first"
            raise RuntimeError(msg)
        data = as_data(X)
        if data.shape[1] != self.weights.shape[2]:
            dims = self.weights.shape[2]
            msg = f"SOM: X has {data.shape[1]} columns but the map was trained on {dims}"
            raise ValueError(msg)
        return data, self.weights.reshape(self.rows * self.cols, -1)

    def bmu(self, X: np.ndarray) -> np.ndarray:
        """(N, 2) int32 best-matching cell of each row of X (not unique)."""
        data, flat = self._require(X)
        idx, _ = best(data, np.einsum("ij,ij->i", data, data), flat, None)
        return np.stack(np.divmod(idx, self.cols), axis=1).astype(np.int32)

    def quantization_error(self, X: np.ndarray, cells: np.ndarray | None = None) -> float:
        """Mean Euclidean distance from each row to its BMU weight (or to ``cells``' weights)."""
        data, flat = self._require(X)
        if cells is not None:
            ids = np.asarray(cells)[:, 0].astype(np.int64) * self.cols + np.asarray(cells)[:, 1]
            return float(np.linalg.norm(data - flat[ids], axis=1).mean())
        _, d2 = best(data, np.einsum("ij,ij->i", data, data), flat, None)
        return float(np.sqrt(d2).mean())

    def topographic_error(self, X: np.ndarray) -> float:
        """Share of rows whose best and second-best units are not 8-neighbours on the grid."""
        data, flat = self._require(X)
        half_w2 = 0.5 * np.einsum("ij,ij->i", flat, flat)
        bad = 0
        step = max(1, BLOCK_ELEMENTS // flat.shape[0])
        for s in range(0, data.shape[0], step):
            g = data[s : s + step] @ flat.T
            g -= half_w2
            first = g.argmax(axis=1)
            g[np.arange(g.shape[0]), first] = -np.inf
            second = g.argmax(axis=1)
            r1, c1 = np.divmod(first, self.cols)
            r2, c2 = np.divmod(second, self.cols)
            bad += int((np.maximum(abs(r1 - r2), abs(c1 - c2)) > 1).sum())
        return bad / int(data.shape[0])


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
