"""The neighbour table as a blocked self-join: exact mode, the recall target, widening, bounded
blocks, determinism, and the same form as the exact table."""

from __future__ import annotations

import numpy as np
import pytest

import vectorvision_widget as vv
import vectorvision_widget.neighbours.join as join
from vectorvision_widget.neighbours import exact_neighbour_table


def unit(X: np.ndarray) -> np.ndarray:
    X = X.astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def clustered(n: int, d: int = 48, clusters: int = 64, sigma: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((clusters, d))
    return unit(C[rng.integers(0, clusters, n)] + sigma * rng.standard_normal((n, d)))


def near_uniform(n: int, d: int = 48, seed: int = 0) -> np.ndarray:
    """A low-dimensional latent plus isotropic noise: weak structure, no clusters."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((16, d)) / 4.0
    return unit(rng.standard_normal((n, 16)) @ W + 1.2 * rng.standard_normal((n, d)))


def brute(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical brute force: score desc, then lower row; self excluded."""
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(X)), S.shape), -S), axis=1)[:, :k]
    return order.astype(np.int32), np.take_along_axis(S, order, axis=1)


def recall(found: np.ndarray, true: np.ndarray) -> float:
    k = true.shape[1]
    return float(np.mean((found[:, :, None] == true[:, None, :]).any(axis=2).sum(axis=1) / k))


def test_exact_mode_equals_brute_force() -> None:
    X = clustered(1500, seed=1)
    X[700:705] = X[3]  # exact ties: canonical order by lower row
    ref_i, ref_s = brute(X, 7)
    for table in (vv.neighbour_table(X, 7, exact=True), join.join_table(X, 7, exact=True)):
        idx, scores = table
        assert table.exact and table.recall == 1.0
        np.testing.assert_array_equal(idx, ref_i)
        np.testing.assert_allclose(scores, ref_s, atol=1e-5)
        assert idx.dtype == np.int32 and scores.dtype == np.float32


def test_tiled_exact_table_does_not_depend_on_the_block() -> None:
    X = near_uniform(3000, seed=2)
    ref_i, ref_s = brute(X, 10)
    for block in (64, 300, 4096):
        idx, scores = exact_neighbour_table(X, 10, block=block)
        np.testing.assert_array_equal(idx, ref_i)
        np.testing.assert_allclose(scores, ref_s, atol=1e-5)


@pytest.mark.parametrize(("n", "block"), [(3000, 64), (3001, 60)])
def test_off_diagonal_tiles_serve_both_directions_exactly(
    monkeypatch: pytest.MonkeyPatch, n: int, block: int
) -> None:
    """Small tiles, all off-diagonal ones through the one-pass scan (also while θ is still
    -inf), with ragged edges when sizes are not multiples of 8; duplicates tie at θ."""
    import vectorvision_widget.neighbours.topk as topk

    monkeypatch.setattr(topk, "_BLOCK_BYTES", 4 * block * block)
    monkeypatch.setattr(topk, "_PAIR_SHARE", 1)
    pairs = []
    real_pair = topk._Running._pair
    monkeypatch.setattr(topk._Running, "_pair", lambda *a: pairs.append(real_pair(*a)) or pairs[-1])
    X = near_uniform(n, seed=4)
    X[2500:2504] = X[1700]  # exact ties across tiles
    X[40] = X[2900]
    ref_i, ref_s = brute(X, 10)
    idx, scores = exact_neighbour_table(X, 10, block=block)
    assert pairs and all(pairs)  # every off-diagonal tile took the one-pass scan
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(scores, ref_s, atol=1e-5)


@pytest.mark.parametrize(
    ("make", "n"),
    [(clustered, 12000), (lambda n: clustered(n, clusters=16, sigma=1.6, seed=3), 8000)],
)
def test_recall_target_met_on_clustered_data(make, n) -> None:  # type: ignore[no-untyped-def]
    X = make(n)
    table = join.join_table(X, 10, exact=False)
    ref_i, ref_s = exact_neighbour_table(X, 10)
    got = recall(table[0], ref_i)
    assert got >= join.DEFAULT_RECALL
    assert not table.exact and 2 <= table.probes < table.cells
    assert abs(table.recall - got) < 0.02  # the sample's estimate is the table's recall
    # what was found is exact: every returned score is the true cosine of that pair
    np.testing.assert_allclose(table[1], np.einsum("id,ijd->ij", X, X[table[0]]), atol=1e-5)
    assert (table[1] <= ref_s + 1e-6).all()


def test_recall_target_met_on_near_uniform_data(monkeypatch: pytest.MonkeyPatch) -> None:
    X = near_uniform(6000)
    ref_i, _ = exact_neighbour_table(X, 10)
    probed = join.join_table(X, 10, exact=False)  # made to probe: it widens a long way
    assert recall(probed[0], ref_i) >= join.DEFAULT_RECALL
    monkeypatch.setattr(join, "EXACT_MAX_N", 1000)
    chosen = vv.neighbour_table(X, 10)  # left to choose: probing costs as much, so exact
    assert chosen.exact and chosen.recall == 1.0
    np.testing.assert_array_equal(chosen[0], ref_i)


def test_probes_widen_until_the_target_holds() -> None:
    X = clustered(8000, clusters=16, sigma=1.6, seed=3)
    ref_i, _ = exact_neighbour_table(X, 10)
    tables = [join.join_table(X, 10, exact=False, recall=r) for r in (0.5, 0.97, 0.995)]
    probes = [t.probes for t in tables]
    assert probes[0] < probes[1] < probes[2]  # a higher target widens the probes
    recalls = [recall(t[0], ref_i) for t in tables]
    assert recalls == sorted(recalls) and recalls[2] >= 0.99
    assert [t.cells for t in tables] == [tables[0].cells] * 3  # same cells: only P changed


def test_blocks_are_bounded_and_do_not_change_the_table() -> None:
    X = clustered(6000, d=32, clusters=8, sigma=1.5, seed=4)  # big cells, many candidates
    free = join.join_table(X, 10, exact=False)
    budget = 48 << 10
    small = join.join_table(X, 10, exact=False, block_bytes=budget)
    assert 0 < small.block_bytes <= budget < free.block_bytes
    np.testing.assert_array_equal(small[0], free[0])
    np.testing.assert_allclose(small[1], free[1], atol=1e-6)


def test_deterministic_for_a_seed() -> None:
    X = clustered(8000, clusters=16, sigma=1.6, seed=5)
    a = join.join_table(X, 10, exact=False, seed=7)
    b = join.join_table(X, 10, exact=False, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert (a.recall, a.probes, a.cells) == (b.recall, b.probes, b.cells)
    c = join.join_table(X, 10, exact=False, seed=8)
    assert c.recall >= join.DEFAULT_RECALL


def test_form_ties_zero_rows_progress_and_cancel() -> None:
    X = clustered(5000, seed=6)
    X[4000:4012] = X[10]  # twelve copies of row 10
    X[100:103] = 0.0  # rows without a vector: score 0, never NaN
    done: list[tuple[int, int]] = []
    idx, scores = vv.neighbour_table(X, 10, exact=False, progress=lambda d, t: done.append((d, t)))
    assert idx.shape == scores.shape == (5000, 10)
    assert idx.dtype == np.int32 and scores.dtype == np.float32
    assert not (idx == np.arange(5000)[:, None]).any()
    assert all(len(set(r)) == 10 for r in idx.tolist())
    assert np.isfinite(scores).all() and (np.diff(scores, axis=1) <= 0).all()
    assert idx[10].tolist() == list(range(4000, 4010))  # ties: lower rows first
    assert done[-1] == (5000, 5000) and len(done) > 10

    class Stop(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        vv.neighbour_table(X, 10, exact=False, progress=cancel)


def test_bad_arguments() -> None:
    X = clustered(300)
    for bad in (0, 300):
        with pytest.raises(ValueError, match=r"k must be in \[1, N-1\]"):
            vv.neighbour_table(X, bad)
    with pytest.raises(ValueError, match="recall"):
        vv.neighbour_table(X, 5, recall=0.0)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        vv.neighbour_table(X, 5)


def test_duplicate_pairs_come_from_the_table_and_match_the_exact_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    dup = sys.modules["vectorvision_widget.neighbours.duplicates"]  # the name is the function
    rng = np.random.default_rng(9)
    X = clustered(6000, seed=9)
    src = rng.choice(6000, 200, replace=False)
    X[src[:100]] = unit(X[src[100:]] + 0.01 * rng.standard_normal((100, X.shape[1])))  # pairs
    X[5000:5015] = X[42]  # fifteen copies of row 42: more than k = 10 above the threshold
    exact_a, exact_b = dup._pairs_above(X, 0.95, 4096, exact=True)
    monkeypatch.setattr(join, "EXACT_MAX_N", 1000)  # the probed join path
    a, b = dup._pairs_above(X, 0.95, 4096)
    assert (a < b).all()
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == set(
        zip(exact_a.tolist(), exact_b.tolist(), strict=True)
    )
    assert len(exact_a) >= 200  # ~100 planted pairs and the 16-copy clique (120 pairs)
    groups = dup.duplicates([None] * 6000, X, None)["near"]
    assert sorted([42, *range(5000, 5015)]) in groups


def test_a_short_join_is_widened_until_the_sample_meets_the_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X = near_uniform(6000, seed=11)
    monkeypatch.setattr(join, "_choose_probes", lambda *a: 2)  # a prediction that falls short
    joins: list[int] = []
    real = join._probed_join

    def spy(*a, **kw):  # type: ignore[no-untyped-def]
        joins.append(a[4].probes)
        return real(*a, **kw)

    monkeypatch.setattr(join, "_probed_join", spy)
    table = join.join_table(X, 10, exact=False)
    assert joins[:2] == [2, 4] and len(joins) >= 3  # doubled after each short join
    assert table.exact or table.recall >= join.DEFAULT_RECALL
