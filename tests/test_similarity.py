"""Tests for similarity.py against brute-force numpy computations."""

from __future__ import annotations

import numpy as np
import pytest

from vectorvision_widget.neighbours import (
    HybridNeighbours,
    _components,
    duplicates,
    fused_vectors,
    neighbour_table,
    normalize_rows,
    similar,
    top_k,
)


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def _brute_table(S: np.ndarray, k: int) -> np.ndarray:
    """Scores of each row's k best other rows, sorted descending (float64 reference)."""
    S = S.astype(np.float64).copy()
    np.fill_diagonal(S, -np.inf)
    return -np.sort(-S, axis=1)[:, :k]


def _assert_table(idx: np.ndarray, scores: np.ndarray, S: np.ndarray, k: int) -> None:
    """Ties-safe: the scores equal brute force, and each index really has its score."""
    n = S.shape[0]
    assert idx.shape == scores.shape == (n, k)
    assert not (idx == np.arange(n)[:, None]).any()  # self excluded
    assert all(len(set(r)) == k for r in idx.tolist())  # no repeats
    np.testing.assert_allclose(scores, _brute_table(S, k), atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(S, idx.astype(int), 1), scores, atol=1e-5)


def test_normalize_rows() -> None:
    X = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    out = normalize_rows(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0], [1, 0]], atol=1e-7)
    assert np.isfinite(out).all()


def test_top_k_matches_brute_force() -> None:
    X = _unit(300, 16, 0)
    q = X[7]
    idx, sc = top_k(X, q, 10, exclude=7)
    ref = X.astype(np.float64) @ q.astype(np.float64)
    ref[7] = -np.inf
    np.testing.assert_allclose(sc, np.sort(ref)[::-1][:10], atol=1e-6)
    np.testing.assert_allclose(ref[idx], sc, atol=1e-6)
    assert idx.dtype == np.int64 and sc.dtype == np.float32 and 7 not in idx
    many_i, _many_s = top_k(X, X[:3], 4)
    assert many_i.shape == (3, 4)
    np.testing.assert_array_equal(many_i[:, 0], [0, 1, 2])  # a row is its own best match


@pytest.mark.parametrize(("n", "k", "block"), [(257, 5, 64), (300, 299, 4096), (5000, 7, 1000)])
def test_neighbour_table_matches_brute_force(n: int, k: int, block: int) -> None:
    X = _unit(n, 12, 1)
    X[10] = X[11]  # exact ties
    X[12] = X[11]
    idx, sc = neighbour_table(X * 3.0, k, block=block)  # not unit: must normalise
    assert idx.dtype == np.int32 and sc.dtype == np.float32
    _assert_table(idx, sc, X @ X.T, k)


def test_neighbour_table_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        neighbour_table(_unit(5, 3, 0), 5)


def test_spaces() -> None:
    v, s = _unit(200, 10, 2), _unit(200, 6, 3)
    for w, space, X in ((1.0, "visual", v), (0.0, "semantic", s)):
        _hi, hs = similar(v, s, 5, 8, "hybrid", w)
        _pi, ps = similar(v, s, 5, 8, space)
        np.testing.assert_allclose(hs, ps, atol=1e-6)
        np.testing.assert_allclose(hs, np.sort(np.delete(X @ X[5], 5))[::-1][:8], atol=1e-6)
    f = fused_vectors(v, s)
    np.testing.assert_allclose(f @ f[5], (v @ v[5] + s @ s[5]) / 2, atol=1e-6)
    _fi, fs = similar(v, s, 5, 8, "fused")
    _hi, hs = similar(v, s, 5, 8, "hybrid", 0.5)
    np.testing.assert_allclose(fs, hs, atol=1e-6)
    with pytest.raises(ValueError, match="needs visual"):
        similar(None, s, 0, 3, "visual")
    with pytest.raises(ValueError, match="weight"):
        similar(v, s, 0, 3, "hybrid", 1.5)
    with pytest.raises(IndexError):
        similar(v, s, 200, 3)


def test_hybrid_neighbours() -> None:
    v, s = _unit(150, 8, 4), _unit(150, 8, 5)
    k = 5
    full = HybridNeighbours(v, s, k, candidates=149)  # every row is a candidate: exact
    approx = HybridNeighbours(v, s, k)  # K = 4k: exact at the ends only
    for w in (0.0, 0.3, 0.7, 1.0):
        S = w * (v @ v.T) + (1 - w) * (s @ s.T)
        _assert_table(*full.table(w), S, k)
    _assert_table(*approx.table(1.0), v @ v.T, k)
    _assert_table(*approx.table(0.0), s @ s.T, k)
    with pytest.raises(ValueError, match="candidates"):
        HybridNeighbours(v, s, 10, candidates=5)


def test_duplicate_tiers() -> None:
    rng = np.random.default_rng(6)
    v, s = _unit(12, 16, 7), _unit(12, 16, 8)
    hashes = [f"h{i}" for i in range(12)]
    hashes[0] = hashes[1] = "same"  # exact
    hashes[9] = hashes[10] = None  # unknown hashes never match
    v[3] = v[2] + 0.01 * rng.normal(size=16)  # near (visual)
    v[6] = v[0]  # near row 0, but row 0 is already in the exact tier
    s[5] = s[4] + 0.02 * rng.normal(size=16)  # similar (semantic) ...
    s[7] = s[5] + 0.02 * rng.normal(size=16)  # ... chained: 4-5-7 is one group
    s[2] = s[4]  # row 2 is already a near-duplicate: not listed again
    v[11] = 0.0  # missing visual vector: never a near-duplicate
    v[8] = 0.0
    out = duplicates(hashes, v, s)
    assert out == {"exact": [[0, 1]], "near": [[2, 3]], "similar": [[4, 5, 7]]}
    assert duplicates(hashes, None, None) == {"exact": [[0, 1]], "near": [], "similar": []}
    loose = duplicates(hashes, v, s, near=0.99, similar=1.01)
    assert loose["near"] == [[2, 3]] and loose["similar"] == []


def test_components_match_breadth_first_search() -> None:
    rng = np.random.default_rng(9)
    n = 300
    a, b = rng.integers(0, n, 250), rng.integers(0, n, 250)
    got = sorted(sorted(g.tolist()) for g in _components(n, a, b))
    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        adj[x].add(y)
        adj[y].add(x)
    seen: set[int] = set()
    want = []
    for i in range(n):
        if i in seen:
            continue
        comp, stack = {i}, [i]
        while stack:
            for j in adj[stack.pop()] - comp:
                comp.add(j)
                stack.append(j)
        seen |= comp
        if len(comp) > 1:
            want.append(sorted(comp))
    assert got == sorted(want)


# --- exact selection paths (chunk-max prefilter, symmetric streaming table) -----------------


def _canonical(S: np.ndarray, k: int, self_excluded: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: full sort of every row by (score desc, index asc)."""
    S = S.astype(np.float64).copy()
    if self_excluded:
        np.fill_diagonal(S, -np.inf)
    cols = np.broadcast_to(np.arange(S.shape[1]), S.shape)
    order = np.lexsort((cols, -S), axis=1)[:, :k]
    return order, np.take_along_axis(S, order, 1)


def _quantised(n: int, d: int, seed: int, levels: int = 2) -> np.ndarray:
    """Small-integer vectors: dot products are exact in float32 and tie massively."""
    rng = np.random.default_rng(seed)
    return rng.integers(-levels, levels + 1, size=(n, d)).astype(np.float32)


@pytest.mark.parametrize(
    ("n", "k", "block"),
    [(2, 1, 4096), (3, 2, 1), (97, 96, 4096), (97, 95, 10), (530, 7, 64), (1300, 70, 200)],
)
def test_neighbour_table_equals_canonical_brute_force_under_ties(
    n: int, k: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vectorvision_widget.neighbours.topk as sim

    monkeypatch.setattr(sim, "_CHUNK", 5)  # make the chunk paths run on small data
    monkeypatch.setattr(sim, "_SCAN_CHUNK", 3)
    monkeypatch.setattr(sim, "_DENSE_ELEMS", 300)  # dense ranking in several slices
    X = _quantised(n, 4, n)
    X[n // 2 :: 7] = X[1]  # many exact duplicates of one row
    want_i, want_s = _canonical(X @ X.T, k)
    idx, sc = neighbour_table(X, k, block=block, normalize=False)
    assert idx.dtype == np.int32 and sc.dtype == np.float32
    np.testing.assert_array_equal(sc, want_s)  # exact: integer dot products
    np.testing.assert_array_equal(idx, want_i)  # ties broken by the lower index


def test_neighbour_table_independent_of_block_size() -> None:
    X = _unit(700, 6, 11)
    X[100:400:3] = X[5]
    ref = neighbour_table(X, 9, block=700)
    for block in (7, 128):
        got = neighbour_table(X, 9, block=block)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_allclose(got[1], ref[1], atol=1e-6)


def test_neighbour_table_all_identical_rows() -> None:
    X = np.ones((300, 5), np.float32)
    idx, sc = neighbour_table(X, 12, block=32)
    want = [[j for j in range(300) if j != i][:12] for i in range(300)]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_allclose(sc, 1.0, atol=1e-6)


@pytest.mark.parametrize(
    ("n", "k", "chunk"),
    [(1000, 3, 7), (1003, 40, 4), (999, 9, 32), (4096, 100, 8), (50, 49, 4), (64, 64, 4)],
)
def test_select_rows_matches_brute_force(n: int, k: int, chunk: int) -> None:
    from vectorvision_widget.neighbours import _select_rows

    S = _quantised(40, n, n, levels=3)  # scores in -3..3: ties everywhere, also at the k-th
    S[0] = -np.inf
    S[1, ::5] = 3.0
    S[2, : n // 2] = -np.inf
    want_i, want_s = _canonical(S, k, self_excluded=False)
    idx, sc = _select_rows(S, k, chunk=chunk)
    np.testing.assert_array_equal(sc, want_s)
    finite = np.isfinite(want_s)  # which -inf (excluded) columns fill a short row is free
    np.testing.assert_array_equal(idx[finite], want_i[finite])


def test_top_k_ties_and_many_queries() -> None:
    X = _quantised(3000, 3, 12)
    Q = X[:50]
    idx, sc = top_k(X, Q, 25, exclude=[4, 9])
    S = Q @ X.T
    S[:, [4, 9]] = -np.inf
    want_i, want_s = _canonical(S, 25, self_excluded=False)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_array_equal(sc, want_s)
    one_i, _ = top_k(X, Q[3], 3000)  # k > rows left: clipped
    assert one_i.shape == (3000,) and sorted(one_i.tolist()) == list(range(3000))


def test_neighbour_table_switches_to_the_join_above_exact_max_n(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vectorvision_widget.neighbours.join as join

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, 16))
    X = (centres[rng.integers(0, 8, 400)] + 0.3 * rng.normal(size=(400, 16))).astype(np.float32)
    calls: list[int] = []
    real = join._probed_join

    def spy(*a, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(join, "_probed_join", spy)
    ex_i, ex_s = neighbour_table(X, 5)  # below the threshold: exact
    assert calls == []
    ap_i, ap_s = neighbour_table(X, 5, exact=False)  # forced approximate on small data
    assert calls == [1]
    assert ap_i.shape == ex_i.shape and ap_i.dtype == ex_i.dtype == np.int32
    assert ap_s.shape == ex_s.shape and ap_s.dtype == ex_s.dtype == np.float32
    assert not (ap_i == np.arange(400)[:, None]).any()
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ap_i, ex_i, strict=True)])
    assert recall >= 0.9
    monkeypatch.setattr(join, "EXACT_MAX_N", 100)
    chose: list[int | None] = []
    real_choose = join._choose_probes

    def choose(*a, **kw):  # type: ignore[no-untyped-def]
        chose.append(real_choose(*a, **kw))
        return chose[-1]

    monkeypatch.setattr(join, "_choose_probes", choose)
    table = neighbour_table(X, 5)  # above the (lowered) threshold: the join measures and decides
    assert len(chose) == 1 and (table.exact or calls == [1, 1])
    assert table.recall >= 0.97
    calls[:] = [1, 1]
    done: list[tuple[int, int]] = []
    neighbour_table(X, 5, exact=True, block=64, progress=lambda d, t: done.append((d, t)))
    assert calls == [1, 1] and done[-1] == (400, 400) and len(done) > 1


def test_hybrid_rerank_keys_equal_canonical_selection() -> None:
    from vectorvision_widget.neighbours.topk import _select

    rng = np.random.default_rng(1)
    for ties in (True, False):
        v = rng.normal(size=(300, 6)).astype(np.float32)
        s = rng.normal(size=(300, 5)).astype(np.float32)
        if ties:  # few distinct values: many exactly equal scores, negative ones and zeros
            v, s = np.sign(np.round(v)) + 0.0, np.sign(np.round(s)) + 0.0
            v[~v.any(axis=1), 0], s[~s.any(axis=1), 0] = 1.0, 1.0
        hn = HybridNeighbours(v, s, 5, candidates=20)
        for w in (0.0, 0.25, 0.5, 1.0):
            idx, vals = hn.table(w)
            sel, ref = _select(w * hn._vis + (1 - w) * hn._sem, 5)
            np.testing.assert_array_equal(idx, np.take_along_axis(hn._idx, sel, 1))
            np.testing.assert_array_equal(vals, ref)
            assert idx.dtype == np.int32 and vals.dtype == np.float32
