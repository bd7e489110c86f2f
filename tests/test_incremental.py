"""Issue 19 item 12: a rescan that finds a few changed files updates only those rows (the pure
neighbour-table merge here; the widget's incremental refresh in test_widget_incremental.py)."""

from __future__ import annotations

import numpy as np
import pytest

from vectorvision_widget.neighbours import exact_neighbour_table, l2_normalise
from vectorvision_widget.neighbours.incremental import update_table


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    return l2_normalise(rng.normal(size=(n, d)).astype(np.float32))


def changed_library(
    seed: int, n: int = 200, k: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(new X, old idx, old scores, old_to_new, fresh): 3 rows removed, 2 changed, 4 added."""
    rng = np.random.default_rng(seed)
    old = unit(rng, n)
    old_idx, old_scores = exact_neighbour_table(old, k)
    removed = np.array([4, 17, 40])
    keep = np.setdiff1d(np.arange(n), removed)
    new = np.vstack([old[keep], unit(rng, 4)])
    old_to_new = np.full(n, -1)
    old_to_new[keep] = np.arange(keep.size)
    changed = np.array([2, 30])  # new row numbers whose vectors changed
    new[changed] = unit(rng, 2)
    fresh = np.concatenate([changed, np.arange(keep.size, new.shape[0])])
    return new, old_idx, old_scores, old_to_new, fresh


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_updated_table_equals_a_full_recompute(seed: int) -> None:
    new, old_idx, old_scores, old_to_new, fresh = changed_library(seed)
    idx, scores, redone = update_table(new, old_idx, old_scores, old_to_new, fresh)
    full_idx, full_scores = exact_neighbour_table(new, old_idx.shape[1])
    np.testing.assert_array_equal(idx, full_idx)
    np.testing.assert_allclose(scores, full_scores, atol=1e-6)
    assert idx.dtype == np.int32 and scores.dtype == np.float32
    # recomputed: the fresh rows and the kept rows whose list held a removed or changed row
    changed_old = {int(o) for o in np.flatnonzero(np.isin(old_to_new, fresh))}
    gone = changed_old | {int(o) for o in np.flatnonzero(old_to_new < 0)}
    touched = {
        int(old_to_new[o])
        for o in range(old_idx.shape[0])
        if o not in gone and gone & set(old_idx[o].tolist())
    }
    assert redone == fresh.size + len(touched) < new.shape[0] // 2


def test_the_hybrid_space_as_one_matrix_equals_brute_force() -> None:
    rng = np.random.default_rng(5)
    vis, sem = unit(rng, 40), unit(rng, 40, 8)
    w = 0.3
    X = np.hstack([np.sqrt(w) * vis, np.sqrt(1 - w) * sem]).astype(np.float32)
    old_idx, old_scores = exact_neighbour_table(X[:36], 4, normalize=False)
    idx, scores, _ = update_table(X, old_idx, old_scores, np.arange(36), np.arange(36, 40))
    brute = w * vis @ vis.T + (1 - w) * sem @ sem.T
    np.fill_diagonal(brute, -np.inf)
    np.testing.assert_array_equal(idx, np.argsort(-brute, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(scores, np.sort(brute, axis=1)[:, ::-1][:, :4], atol=1e-5)


def test_nothing_changed_keeps_every_list_and_ties_stay_canonical() -> None:
    X = np.tile(np.eye(3, dtype=np.float32), (4, 1))  # every row ties with three others
    idx, scores = exact_neighbour_table(X, 3)
    same, same_scores, redone = update_table(X, idx, scores, np.arange(12), np.array([], int))
    np.testing.assert_array_equal(same, idx)
    np.testing.assert_array_equal(same_scores, scores)
    assert redone == 0
    X2 = np.vstack([X, np.eye(3, dtype=np.float32)[:1]])  # a tie added: lower rows first
    merged, _, _ = update_table(X2, idx, scores, np.arange(12), np.array([12]))
    np.testing.assert_array_equal(merged, exact_neighbour_table(X2, 3)[0])


def test_a_k_the_library_cannot_hold_is_refused() -> None:
    X = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="must be in"):
        update_table(X, np.zeros((5, 3), np.int32), np.zeros((5, 3)), np.full(5, -1), np.arange(3))
