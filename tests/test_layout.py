"""Tests for layout.py: grid sizes, unique assignment, gridding of custom coordinates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vectorvision_widget.som.layout import (
    DEFAULT_FILL,
    assign_unique,
    default_grid_shape,
    grid_cells,
)


def _unique(cells: np.ndarray) -> bool:
    return len({(int(r), int(c)) for r, c in cells}) == len(cells)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize("n", [0, 1, 2, 7, 100, 1000, 12345])
@pytest.mark.parametrize("fill", [None, 0.25, 4 / 9, 0.7, 0.8, 0.9, 1.0])
def test_default_grid_shape_honours_fill(n: int, fill: float | None) -> None:
    rows, cols = default_grid_shape(n, fill) if fill is not None else default_grid_shape(n)
    target = DEFAULT_FILL if fill is None else fill
    assert rows == cols >= 1 and rows * cols >= n
    assert n / (rows * cols) <= target + 1e-12  # never denser than asked ...
    if rows > 1:  # ... and the smallest square that is not
        assert n / ((rows - 1) * (cols - 1)) > target


def test_default_grid_shape_old_default_is_fill_four_ninths() -> None:
    """fill = 1/2.25 reproduces the former 1.5·√N cells per side."""
    for n in (7, 100, 1000, 7600):
        assert default_grid_shape(n, 1 / 2.25)[0] == math.ceil(1.5 * math.sqrt(n))


def test_default_grid_shape_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        default_grid_shape(-1)
    for bad in (0, -0.5, 1.5, float("nan"), "0.8"):
        with pytest.raises(ValueError, match="fill"):
            default_grid_shape(10, bad)  # type: ignore[arg-type]


def test_grid_cells_unique_and_in_bounds() -> None:
    pts = np.random.default_rng(0).normal(size=(3000, 2))
    cells = grid_cells(pts)
    rows, cols = default_grid_shape(3000)
    assert cells.dtype == np.int32 and cells.shape == (3000, 2)
    assert _unique(cells)
    assert cells[:, 0].min() >= 0 and cells[:, 0].max() < rows
    assert cells[:, 1].min() >= 0 and cells[:, 1].max() < cols


def test_points_on_free_lattice_keep_their_cells() -> None:
    rng = np.random.default_rng(1)
    ids = np.concatenate([[0, 20 * 20 - 1], rng.choice(np.arange(1, 399), 150, replace=False)])
    r, c = np.divmod(ids, 20)
    coords = np.stack([c * 0.3 + 5, -r * 0.7], axis=1)  # x → col, larger y → upper row
    cells = grid_cells(coords, 20, 20)
    np.testing.assert_array_equal(cells, np.stack([r, c], axis=1))


def test_order_preserved_on_a_line() -> None:
    x = np.random.default_rng(2).permutation(60).astype(float)
    line = np.stack([x, np.zeros(60)], axis=1)
    exact = grid_cells(line, 1, 60)
    np.testing.assert_array_equal(exact[:, 1], x.astype(int))
    packed = grid_cells(line, 3, 25)  # must wrap over 3 rows
    assert _unique(packed)
    assert _spearman(x, packed[:, 1]) > 0.95


def test_neighbourhoods_and_clusters_survive() -> None:
    rng = np.random.default_rng(3)
    left = rng.normal(size=(400, 2)) * 0.3
    right = rng.normal(size=(400, 2)) * 0.3 + [10.0, 0.0]
    pts = np.concatenate([left, right])
    cells = grid_cells(pts)
    assert cells[:400, 1].max() < cells[400:, 1].min()
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    np.fill_diagonal(d, np.inf)
    nn = d.argmin(axis=1)
    grid_nn = np.abs(cells - cells[nn]).sum(axis=1).mean()
    grid_rand = np.abs(cells - cells[rng.permutation(800)]).sum(axis=1).mean()
    assert grid_nn < 0.2 * grid_rand


def test_rank_spread_and_identical_points() -> None:
    same = np.zeros((500, 2))
    assert _unique(grid_cells(same))
    pts = np.random.default_rng(4).lognormal(size=(500, 2))
    assert _unique(grid_cells(pts, spread="rank"))


@pytest.mark.parametrize(
    ("coords", "kw", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), {}, "NaN"),
        (np.zeros((5, 3)), {}, r"\(N, 2\)"),
        (np.zeros((10, 2)), {"rows": 3, "cols": 3}, "cannot hold 10"),
        (np.zeros((10, 2)), {"rows": 4}, "both rows and cols"),
        (np.zeros((4, 2)), {"spread": "log"}, "spread"),
    ],
)
def test_grid_cells_errors(coords: np.ndarray, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grid_cells(coords, **kw)


def test_grid_cells_empty() -> None:
    assert grid_cells(np.empty((0, 2))).shape == (0, 2)


def test_assign_unique_greedy_rules() -> None:
    # items 0 and 1 both want cell 0; item 1 is closer so it wins, item 0 takes its 2nd choice
    cand = np.array([[0, 1], [0, 2], [3, 0]])
    cost = np.array([[0.5, 0.9], [0.1, 0.8], [0.2, 0.3]])
    np.testing.assert_array_equal(assign_unique(cand, cost, 4), [1, 0, 3])
    # all candidates taken and no refill: still unique, uses free cells
    out = assign_unique(np.zeros((3, 1), int), np.zeros((3, 1)), 3)
    assert sorted(out.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="do not fit"):
        assign_unique(np.zeros((4, 1), int), np.zeros((4, 1)), 3)
