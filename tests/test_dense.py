"""Dense maps (som.dense): grid fill and neighbourhoods vs the plain SOM, warm starts that keep
images near their places, incremental placement that keeps old cells."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import numpy as np
import pytest

from vectorvision_widget.library.store import Library
from vectorvision_widget.som.dense import (
    dense_layout,
    local_best,
    place_rows,
    warm_layout,
    warm_map,
    window_best,
)
from vectorvision_widget.som.layout import DEFAULT_FILL, default_grid_shape, map_grid_shape
from vectorvision_widget.som.map import SOM
from vectorvision_widget.widget.widget import VectorVision


def _clusters(n: int, k: int = 16, d: int = 32, seed: int = 0, labels: np.ndarray | None = None):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, k, n) if labels is None else labels
    centres = rng.normal(size=(k, d))
    X = centres[lab] + 0.5 * rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), lab


def _knn(X: np.ndarray, k: int = 10) -> np.ndarray:
    g = X @ X.T
    np.fill_diagonal(g, -np.inf)
    return np.argpartition(-g, k, axis=1)[:, :k]


def _within(cells: np.ndarray, nn: np.ndarray, radius: int = 3) -> float:
    """Share of each row's nearest neighbours within ``radius`` cells (Chebyshev) on the grid."""
    c = cells.astype(np.int64)
    return float((np.abs(c[nn] - c[:, None, :]).max(axis=2) <= radius).mean())


def _unique(cells: np.ndarray, cols: int) -> bool:
    ids = cells[:, 0].astype(np.int64) * cols + cells[:, 1]
    return bool(np.unique(ids).size == ids.size)


def test_dense_layout_fills_the_grid_and_keeps_neighbourhoods_better_than_the_plain_som() -> None:
    X, _ = _clusters(2500)
    nn = _knn(X)
    rows, cols = map_grid_shape(len(X))
    dense = dense_layout(X, rows, cols)
    assert dense.cells is not None and dense.weights is not None
    assert _unique(dense.cells, cols)
    assert 1 - len(X) / (rows * cols) <= 0.10
    assert dense.weights.shape == (rows, cols, X.shape[1])
    old = SOM(*default_grid_shape(len(X), DEFAULT_FILL)).fit(X)  # the old default layout
    assert old.cells is not None
    assert 1 - len(X) / (old.rows * old.cols) > 0.25
    assert _within(dense.cells, nn) >= _within(old.cells, nn)


def test_warm_start_keeps_most_images_near_their_places() -> None:
    n = 2500
    vis, lab = _clusters(n, seed=1)
    sem, _ = _clusters(n, k=8, seed=2, labels=lab // 2)
    rows, cols = map_grid_shape(n)

    def hybrid(w: float) -> np.ndarray:
        return np.hstack([np.sqrt(w) * vis, np.sqrt(1 - w) * sem]).astype(np.float32)

    before = dense_layout(hybrid(0.5), rows, cols)
    assert before.cells is not None
    after = warm_layout(hybrid(0.3), before.cells, rows, cols)
    fresh = dense_layout(hybrid(0.3), rows, cols, seed=5)
    assert after.cells is not None and fresh.cells is not None
    assert _unique(after.cells, cols)
    moved = np.sqrt(((after.cells - before.cells.astype(float)) ** 2).sum(axis=1))
    assert np.median(moved) <= 0.1 * rows
    # still a good map of the new vectors: as local as a fresh one, give or take
    nn = _knn(hybrid(0.3))
    assert _within(after.cells, nn) >= 0.9 * _within(fresh.cells, nn)
    with pytest.raises(ValueError, match="cells must be"):
        warm_layout(hybrid(0.3), before.cells[:10], rows, cols)


def _brute_window(X: np.ndarray, W: np.ndarray, centre: np.ndarray, radius: int) -> np.ndarray:
    """Squared distances of every row to every node, inf outside its own window."""
    r, c, d = W.shape
    d2 = ((X[:, None, :].astype(np.float64) - W.reshape(1, r * c, d)) ** 2).sum(axis=2)
    nr, nc = np.divmod(np.arange(r * c), c)
    cr, cc = np.divmod(centre, c)
    far = (np.abs(nr[None, :] - cr[:, None]) > radius) | (
        np.abs(nc[None, :] - cc[:, None]) > radius
    )
    d2[far] = np.inf
    return d2


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_window_best_is_the_brute_force_best_within_each_rows_own_window(radius: int) -> None:
    rng = np.random.default_rng(radius)
    r, c, d = 7, 9, 12
    W = rng.normal(size=(r, c, d)).astype(np.float32)
    X = rng.normal(size=(300, d)).astype(np.float32)
    # crowded centres (up to 40 rows on one node, more than one group), corners and edges
    centre = np.concatenate([np.full(40, 0), np.full(7, r * c - 1), rng.integers(0, r * c, 253)])
    d2 = _brute_window(X, W, centre, radius)
    idx = window_best(X, W, centre, radius)
    np.testing.assert_array_equal(idx, d2.argmin(axis=1))
    best, win, cost = local_best(X, np.einsum("ij,ij->i", X, X), W, centre, radius, None)
    np.testing.assert_array_equal(best, idx)
    # the 3×3 around each best node (row-major, -1 / inf off the grid) with its costs
    full = _brute_window(X, W, centre, r + c)
    br, bc = np.divmod(best, c)
    for k, (dr, dc) in enumerate((a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)):
        on = (br + dr >= 0) & (br + dr < r) & (bc + dc >= 0) & (bc + dc < c)
        np.testing.assert_array_equal(win[:, k], np.where(on, (br + dr) * c + bc + dc, -1))
        want = full[np.arange(len(X)), np.where(on, win[:, k], 0)]
        np.testing.assert_allclose(cost[on, k], want[on], rtol=1e-4, atol=1e-3)
        assert np.isinf(cost[~on, k]).all()


def test_warm_map_leaves_the_display_weights_for_later_and_they_match_warm_layout() -> None:
    X, _ = _clusters(800)
    rows, cols = map_grid_shape(len(X))
    start = dense_layout(X, rows, cols)
    assert start.cells is not None
    made = warm_map(X[:, ::-1].copy(), start.cells, rows, cols)
    som = warm_layout(X[:, ::-1].copy(), start.cells, rows, cols)
    assert made._weights is None  # nothing computed yet
    np.testing.assert_array_equal(made.cells, som.cells)
    assert som.weights is not None
    np.testing.assert_allclose(made.weights(), som.weights, rtol=1e-6)
    assert made.weights() is made.weights()  # computed once


def test_warm_start_stops_when_asked() -> None:
    X, _ = _clusters(600)
    rows, cols = map_grid_shape(600)
    som = dense_layout(X, rows, cols)
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        warm_layout(X, som.cells, rows, cols, stop=stop)


def test_place_rows_keeps_old_cells_and_puts_new_rows_near_their_kind() -> None:
    X, lab = _clusters(1200, k=6)
    old, new = np.arange(1100), np.arange(1100, 1200)
    rows, cols = map_grid_shape(1200)
    som = dense_layout(X[old], rows, cols)
    assert som.cells is not None and som.weights is not None
    cells = np.full((1200, 2), -1, np.int32)
    cells[old] = som.cells
    out, grid = place_rows(som.weights, cells, new, X[new])
    assert grid == (rows, cols)
    np.testing.assert_array_equal(out[old], som.cells)  # nothing old moves
    assert _unique(out, cols)
    # a new image lands near old images of its own cluster
    near = []
    for r in new:
        d = np.abs(out[old].astype(int) - out[r]).max(axis=1)
        near.append(np.mean(lab[old][d <= 2] == lab[r]))
    assert np.mean(near) > 0.5  # chance: 1/6
    same, _ = place_rows(som.weights, out, np.array([], np.int64), X[:0])
    np.testing.assert_array_equal(same, out)  # nothing to place: nothing changes


def test_place_rows_grows_a_full_grid_and_keeps_old_cells() -> None:
    X, _ = _clusters(100, k=3)
    som = dense_layout(X[:90], 10, 9)
    assert som.cells is not None and som.weights is not None
    cells = np.full((100, 2), -1, np.int32)
    cells[:90] = som.cells
    out, (r, c) = place_rows(som.weights, cells, np.arange(90, 100), X[90:])
    assert r * c >= 100 and r >= 10 and c >= 9
    np.testing.assert_array_equal(out[:90], som.cells)
    assert _unique(out, c)
    with pytest.raises(ValueError, match="columns"):
        place_rows(som.weights, cells, np.arange(90, 100), X[90:, :5])


def _hybrid_library(n: int) -> Library:
    vis, lab = _clusters(n, seed=1)
    sem, _ = _clusters(n, k=8, seed=2, labels=lab // 2)
    return Library.from_arrays([f"/no/such/dir/{i}.jpg" for i in range(n)], sem, vis)


def test_widget_weight_change_morphs_the_map_and_rescan_places_new_rows() -> None:
    lib = _hybrid_library(900)
    w = VectorVision(lib, mode="hybrid", hybrid_weight=0.5)
    assert w.wait(120)
    before = w.cells
    w.hybrid_weight = 0.3
    assert w.wait(120)
    after = w.cells
    rows = w._grid[0]
    moved = np.sqrt(((after - before.astype(float)) ** 2).sum(axis=1))
    assert np.median(moved) <= 0.1 * rows  # a fresh map moves most images across the map
    assert not np.array_equal(after, before)
    # an incremental rescan: one image changed, two added; everything else keeps its cell
    old_paths = list(lib.paths)
    vis, _ = _clusters(3, seed=7)
    lib.upsert({"path": old_paths[5]}, vis[0][::-1].copy(), vis[0])
    for i in (1, 2):
        lib.upsert({"path": f"/no/such/dir/new{i}.jpg"}, vis[i][::-1].copy(), vis[i])
    w._work.clear()
    changed = {old_paths[5]}
    assert w._work.place_rescanned(old_paths, changed, "hybrid", 0.3)
    placed = w.cells
    assert placed.shape == (902, 2)
    keep = [r for r in range(900) if r != 5]
    np.testing.assert_array_equal(placed[keep], after[keep])
    ids = placed[:, 0].astype(np.int64) * w._grid[1] + placed[:, 1]
    assert np.unique(ids).size == 902
    assert not w._work.runner.running("layout")  # placed, not retrained
    assert not w._work.place_rescanned(old_paths, changed, "visual", 0.3)  # another map
    w.close()
