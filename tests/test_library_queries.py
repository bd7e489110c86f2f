"""Library queries after the split: no whole-matrix re-checks per call, cached hybrid tables,
and the module structure (facade names, no import cycle back into the library)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vectorvision_widget as vv
import vectorvision_widget.library.queries as libqueries
import vectorvision_widget.neighbours as sim
import vectorvision_widget.neighbours.topk as topk
from vectorvision_widget.library.store import Library

PKG = Path(sim.__file__).parent


def random_library(n: int = 60, seed: int = 0) -> Library:
    rng = np.random.default_rng(seed)
    return Library.from_arrays(
        [f"/img/{i}.jpg" for i in range(n)], rng.normal(size=(n, 12)), rng.normal(size=(n, 9))
    )


def test_similar_does_not_rescan_or_renormalise_the_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = random_library()
    calls: list[str] = []
    real = np.isfinite

    def spy(x, *a, **kw):  # type: ignore[no-untyped-def]
        if np.ndim(x) == 2 and np.shape(x)[0] == len(lib):
            calls.append("isfinite")
        return real(x, *a, **kw)

    monkeypatch.setattr(topk.np, "isfinite", spy)
    for space in ("visual", "semantic", "hybrid", "fused"):
        assert len(lib.similar(3, k=5, space=space)) == 5
    lib.search(lib.features[0], k=3)
    assert calls == []


def test_similar_fused_equals_fused_vectors() -> None:
    lib = random_library()
    f = sim.fused_vectors(lib.visual_features, lib.features)
    ref = f @ f[7]
    ref[7] = -np.inf
    got = lib.similar(7, k=6, space="fused")
    assert [i for i, _ in got] == [int(i) for i in np.argsort(-ref, kind="stable")[:6]]
    np.testing.assert_allclose([s for _, s in got], np.sort(ref)[::-1][:6], atol=1e-6)


@pytest.mark.parametrize("bad", [-1, 60, 1.5, True, None])
def test_similar_rejects_bad_rows(bad: object) -> None:
    with pytest.raises((IndexError, TypeError)):
        random_library().similar(bad)  # type: ignore[arg-type]


def test_hybrid_weight_must_be_finite() -> None:
    with pytest.raises(ValueError, match="weight"):
        random_library().similar(1, space="hybrid", weight=float("nan"))


def test_hybrid_neighbours_cached_per_version_and_reranked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lib = random_library()
    built = count_tables(monkeypatch)
    hn = lib.hybrid_neighbours(5)
    assert lib.hybrid_neighbours(5) is hn and len(built) == 2  # one table per space, once
    for w in (0.0, 0.3, 1.0):
        idx, vals = hn.table(w)
        assert idx.shape == vals.shape == (len(lib), 5) and idx.dtype == np.int32
    assert len(built) == 2  # weight changes never recompute candidates
    ref, _ = sim.neighbour_table(lib.visual_features, 5)
    np.testing.assert_array_equal(hn.table(1.0)[0], ref)  # exact at w = 1
    lib.remove(lib.paths[0])
    assert lib.hybrid_neighbours(5) is not hn  # rebuilt after a mutation


def count_tables(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the k of every all-pairs neighbour table the library computes."""
    built: list[int] = []
    real = libqueries.neighbour_table

    def counting(X, k, **kw):  # type: ignore[no-untyped-def]
        built.append(k)
        return real(X, k, **kw)

    monkeypatch.setattr(libqueries, "neighbour_table", counting)
    return built


def test_space_tables_cached_and_shared_with_the_hybrid(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = random_library()
    built = count_tables(monkeypatch)
    hn = lib.hybrid_neighbours(5)  # candidates K = 20 per space
    assert built == [20, 20]
    for space, X in (("visual", lib.visual_features), ("semantic", lib.features)):
        idx, scores = lib.neighbour_table(5, space)  # a slice of the candidates: no new pass
        ref_i, ref_s = sim.neighbour_table(X, 5)
        np.testing.assert_array_equal(idx, ref_i)
        np.testing.assert_allclose(scores, ref_s, rtol=1e-6)
        assert idx.flags.writeable and idx.flags.c_contiguous  # the caller's own copy
        idx[:] = 0  # does not reach the cache
        np.testing.assert_array_equal(lib.neighbour_table(5, space)[0], ref_i)
    assert built == [20, 20]
    lib.neighbour_table(25, "visual")  # deeper than cached: computed once more, then reused
    lib.neighbour_table(21, "visual")
    assert built == [20, 20, 25]
    assert lib.hybrid_neighbours(5) is hn
    lib.remove(lib.paths[-1])  # a new version: nothing is reused
    lib.neighbour_table(5, "semantic")
    assert built == [20, 20, 25, 5]
    with pytest.raises(ValueError, match="space"):
        lib.neighbour_table(5, "hybrid")
    with pytest.raises(ValueError, match="k must be"):
        lib.neighbour_table(len(lib), "visual")


def test_hybrid_reuses_deeper_space_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = random_library()
    built = count_tables(monkeypatch)
    lib.neighbour_table(30, "visual")
    lib.neighbour_table(30, "semantic")
    hn = lib.hybrid_neighbours(5)
    assert built == [30, 30]
    ref = sim.HybridNeighbours(lib.visual_features, lib.features, 5)
    for w in (0.0, 0.4, 1.0):
        np.testing.assert_array_equal(hn.table(w)[0], ref.table(w)[0])


def test_approximate_tables_are_kept_deep_enough_for_the_hybrid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lib = random_library()
    built = count_tables(monkeypatch)
    idx, _ = lib.neighbour_table(3, "visual", exact=False)  # the index path (large libraries)
    assert idx.shape == (len(lib), 3) and built == [12]  # searched 4k deep, at ~the same cost
    lib.hybrid_neighbours(3, exact=False)
    assert built == [12, 12]  # the visual candidates were reused; only semantic was new


def test_visual_table_falls_back_to_features_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = random_library()
    lib.upsert({"path": lib.paths[0]}, lib.features[0])  # no visual vector (an old library)
    built = count_tables(monkeypatch)
    with pytest.warns(vv.VisualFeaturesMissingWarning):
        idx, _ = lib.neighbour_table(4, "visual")
    np.testing.assert_array_equal(idx, lib.neighbour_table(4, "semantic")[0])
    assert built == [4]  # the fallback is the semantic table, computed once


def test_facade_names() -> None:
    for name in (
        "neighbour_table",
        "top_k",
        "similar",
        "HybridNeighbours",
        "duplicates",
        "normalize_rows",
        "fused_vectors",
        "hybrid_scores",
    ):
        assert callable(getattr(sim, name))


@pytest.mark.parametrize("rank_weight", [0.0, 1.0, 5.0])
@pytest.mark.parametrize("k", [1, 7, 2000])
def test_by_colour_pruning_equals_scoring_every_row(rank_weight: float, k: int) -> None:
    import vectorvision_widget.images.colors as colors

    rng = np.random.default_rng(int(rank_weight * 10) + k)
    n = 1500
    pals = [rng.integers(0, 256, size=(int(rng.integers(0, 6)), 3)).tolist() for _ in range(n)]
    recs = [{"path": f"/c/{i}.jpg", "palette": p} for i, p in enumerate(pals)]
    lib = Library.from_arrays([r["path"] for r in recs], rng.normal(size=(n, 4)), records=recs)
    for target in ([200, 40, 40], [128, 128, 128], [0, 0, 0], [250, 250, 10]):
        score = colors.palette_distance(
            target, colors.palettes_to_lab(pals), rank_weight=rank_weight
        )
        valid = np.flatnonzero(np.isfinite(score))
        order = valid[np.lexsort((valid, score[valid]))][:k]
        got = lib.by_colour(target, k, rank_weight=rank_weight)
        assert [i for i, _ in got] == order.tolist()
        np.testing.assert_array_equal([s for _, s in got], score[order])
