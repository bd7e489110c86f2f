"""The approximate neighbour table (the self-join made to probe cells, ``exact=False``): same
form as the exact one, high recall, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from vectorvision_widget.neighbours import neighbour_table


class ann:
    @staticmethod
    def approximate_table(X, k, threads=1, seed=0, progress=None):  # type: ignore[no-untyped-def]
        return neighbour_table(X, k, exact=False, seed=seed, progress=progress)


def clustered(n: int, d: int = 48, clusters: int = 40, sigma: float = 1.5, seed: int = 0):
    """Unit float32 rows of a Gaussian mixture (like the benchmark's data, smaller)."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((clusters, d)).astype(np.float32)
    X = C[rng.integers(0, clusters, n)] + sigma * rng.standard_normal((n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    X = clustered(3000)
    return X, neighbour_table(X, 10), ann.approximate_table(X, 10, threads=1)


def test_same_form_as_the_exact_table(data):
    _, (ie, se), (ia, sa) = data
    assert ia.shape == ie.shape == (3000, 10)
    assert ia.dtype == ie.dtype == np.int32
    assert sa.dtype == se.dtype == np.float32


def test_recall_against_the_exact_table(data):
    _, (ie, _), (ia, _) = data
    recall = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(ia, ie, strict=True)])
    assert recall >= 0.95


def test_self_excluded_rows_distinct_scores_are_sorted_cosines(data):
    X, _, (ia, sa) = data
    assert not (ia == np.arange(len(X))[:, None]).any()
    assert all(len(set(r)) == 10 for r in ia.tolist())
    assert (np.diff(sa, axis=1) <= 0).all()
    cos = np.einsum("id,ijd->ij", X, X[ia])
    np.testing.assert_allclose(sa, cos, atol=1e-5)


def test_ties_ordered_by_lower_row():
    X = clustered(400, seed=3)
    X[100:110] = X[5]  # ten copies of row 5: all score 1.0 against it
    idx, sc = ann.approximate_table(X, 10, threads=1)
    assert sorted(idx[5].tolist()) == list(range(100, 110))
    assert idx[5].tolist() == list(range(100, 110))
    np.testing.assert_allclose(sc[5], 1.0, atol=1e-5)


def test_unnormalised_input_and_zero_rows():
    X = clustered(500, seed=1)
    a, _ = ann.approximate_table(X, 5, threads=1)
    b, _ = ann.approximate_table(X * 7.5, 5, threads=1)
    assert np.array_equal(a, b)
    X[:3] = 0  # images without features: score 0 against everything, never NaN
    idx, sc = ann.approximate_table(X, 5, threads=1)
    assert np.isfinite(sc).all()
    assert not (idx == np.arange(500)[:, None]).any()


def test_k_bounds():
    X = clustered(12, seed=2)
    idx, sc = ann.approximate_table(X, 11, threads=1)  # k = N - 1: every other row
    for r in range(12):
        assert sorted(idx[r].tolist()) == [c for c in range(12) if c != r]
    _, se = neighbour_table(X, 11)
    np.testing.assert_allclose(sc, se, atol=1e-5)
    for bad in (0, 12, 100):
        with pytest.raises(ValueError, match=r"k must be in \[1, N-1\] = \[1, 11\]"):
            ann.approximate_table(X, bad)


def test_bad_input():
    X = clustered(100)
    X[7, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        ann.approximate_table(X, 5)
    with pytest.raises(ValueError, match="2-D"):
        ann.approximate_table(np.zeros(10, np.float32), 3)


def test_deterministic_for_a_seed_and_seed_matters_little():
    X = clustered(1500, seed=4)
    a = ann.approximate_table(X, 10, threads=1, seed=0)
    b = ann.approximate_table(X, 10, threads=1, seed=0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c, _ = ann.approximate_table(X, 10, threads=2, seed=1)
    agree = np.mean([np.intersect1d(x, y).size / 10 for x, y in zip(a[0], c, strict=True)])
    assert agree >= 0.95


def test_progress_and_cancel():
    X = clustered(20000, d=8, seed=5)  # many cell groups: several progress calls
    calls: list[tuple[int, int]] = []
    ann.approximate_table(X, 3, threads=1, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (20000, 20000) and len(calls) >= 4

    class Stop(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        ann.approximate_table(X, 3, threads=1, progress=cancel)
